#!/usr/bin/env python3
"""Checks the shape of the code that ARCHITECTURE.md asks for, per crate:

- no module cycles inside a crate: module A using B while B (directly or through others)
  uses A. An edge is a `crate::m` path, a `use crate::{m, ..}` item, a `super::m` path, or a
  `self.f(` call of a method defined in exactly one other module (impl blocks of one type
  spread over several files, as the IMAP session's are);
- no source file over 600 lines before its `#[cfg(test)]` part;
- no function over 120 lines;
- crates depend only on crates below them in ARCHITECTURE.md's order (`LAYERS`).

Reads the code as text (comments and test modules left out), so it is a guard, not a
compiler. Usage: python3 scripts/structure.py [--graph] [CRATE_DIR...]; exits 1 on any
finding. Without arguments it checks every crate under crates/ and the root package.
"""
import os
import re
import sys

MAX_FILE_LINES = 600
MAX_FN_LINES = 120

# ARCHITECTURE.md "Workspace layout": common -> store, limiter, signer -> archive -> relay ->
# engine -> lifecycle -> smtp, imap, pop3, control, http -> pecd. imap-message (IMAP views of
# one message, no pecd dependency) sits with the bottom layer's leaves; migrate (after
# archive, needing nothing above it) beside relay.
LAYERS = {
    "pecd-common": 0,
    "pecd-store": 1, "pecd-limiter": 1, "pecd-signer": 1, "pecd-imap-message": 1,
    "pecd-archive": 2,
    "pecd-relay": 3, "pecd-migrate": 3,
    "pecd-engine": 4,
    "pecd-lifecycle": 5,
    "pecd-smtp": 6, "pecd-imap": 6, "pecd-pop3": 6, "pecd-control": 6, "pecd-http": 6,
    "pecd": 7,
}


def layer_findings(crate_dir):
    """A pecd dependency at the crate's own layer or above it."""
    manifest = os.path.join(crate_dir, "Cargo.toml")
    text = open(manifest, encoding="utf-8").read()
    name = re.search(r'^\[package\][^\[]*?^name\s*=\s*"([^"]+)"', text, re.M | re.S).group(1)
    deps = re.search(r"^\[dependencies\](.*?)(^\[|\Z)", text, re.M | re.S)
    used = set(re.findall(r"^(pecd-[a-z0-9-]+)", deps.group(1), re.M)) if deps else set()
    if name not in LAYERS:
        return [f"{manifest}: crate {name} has no place in LAYERS (ARCHITECTURE.md order)"]
    return [
        f"{manifest}: {name} depends on {d}, which is not below it"
        for d in sorted(used)
        if LAYERS.get(d, 99) >= LAYERS[name]
    ]


def sources(src_root):
    """Module path -> (file path, code without tests and comments, lines before tests)."""
    out = {}
    if os.path.isfile(src_root):
        walk = [(os.path.dirname(src_root), [], [os.path.basename(src_root)])]
        src_root = os.path.dirname(src_root)
    else:
        walk = os.walk(src_root)
    for d, _, fs in walk:
        for f in sorted(fs):
            # Unit-test files (`#[cfg(test)] mod tests;`) are tests, whatever their size.
            if not f.endswith(".rs") or f == "tests.rs":
                continue
            p = os.path.join(d, f)
            rel = os.path.relpath(p, src_root)[:-3]
            if rel in ("lib", "main") or os.path.isfile(os.path.join(src_root, f)) and src_root.endswith("bin"):
                mod = "crate"
            else:
                mod = rel.replace("/mod", "").replace("/", "::")
                if mod.endswith("::main") or mod.endswith("::lib"):
                    mod = mod.rsplit("::", 1)[0]
            text = open(p, encoding="utf-8", errors="replace").read()
            cut = text.find("#[cfg(test)]")
            code = text if cut < 0 else text[:cut]
            code = re.sub(r"//[^\n]*", "", code)
            out[mod] = (p, code, code.count("\n"))
    return out


def graph(mods):
    names = set(mods)
    defs = {}
    for m, (_, code, _) in mods.items():
        for name in re.findall(r"\bfn\s+(\w+)", code):
            defs.setdefault(name, set()).add(m)
    edges = {m: set() for m in names}

    def resolve(m, parts):
        for k in range(len(parts), 0, -1):
            cand = "::".join(parts[:k])
            if cand in names and cand != m:
                edges[m].add(cand)
                return

    for m, (_, code, _) in mods.items():
        for path in re.findall(r"\bcrate::((?:\w+::)*\w+)", code):
            resolve(m, path.split("::"))
        for brace in re.findall(r"use crate::\{([^}]*)\}", code):
            for item in re.split(r"[,\s]+", brace):
                resolve(m, item.split("::"))
        parent = m.rsplit("::", 1)[0] if "::" in m else ""
        for path in re.findall(r"\bsuper::((?:\w+::)*\w+)", code):
            base = parent.split("::") if parent else []
            resolve(m, base + path.split("::"))
        for name in set(re.findall(r"\bself\.(\w+)\(", code)):
            owners = defs.get(name, set())
            if len(owners) == 1 and m not in owners:
                edges[m] |= owners
        # A module's own children are not a cycle back to it.
    return edges


def cycles(edges):
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def long_functions(path, code):
    lines = code.split("\n")
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)", line)
        if not m:
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            s = re.sub(r'"(\\.|[^"\\])*"', "", lines[j])
            s = re.sub(r"'(\\.|[^'\\])'", "", s)
            for ch in s:
                if ch == "{":
                    depth += 1
                    started = True
                elif ch == "}":
                    depth -= 1
            if started and depth <= 0:
                break
            if not started and s.rstrip().endswith(";"):
                break
            j += 1
        if j - i + 1 > MAX_FN_LINES:
            out.append(f"{path}:{i + 1}: fn {m.group(6)} is {j - i + 1} lines")
    return out


def check(crate_dir, show_graph):
    findings = layer_findings(crate_dir)
    src = os.path.join(crate_dir, "src")
    roots = [src]
    bins = os.path.join(src, "bin")
    if os.path.isdir(bins):
        roots = [src] + [os.path.join(bins, b) for b in sorted(os.listdir(bins))]
    for root in roots:
        mods = sources(root)
        if root == src and os.path.isdir(bins):
            mods = {m: v for m, v in mods.items() if not m.startswith("bin")}
        edges = graph(mods)
        if show_graph:
            print(f"# {root}")
            for m in sorted(edges):
                print(f"  {m:24} -> {', '.join(sorted(edges[m])) or '-'}")
        for comp in cycles(edges):
            findings.append(f"{root}: module cycle: {' <-> '.join(comp)}")
        for m, (path, code, n) in sorted(mods.items()):
            if n > MAX_FILE_LINES:
                findings.append(f"{path}: {n} lines before its tests (limit {MAX_FILE_LINES})")
            findings.extend(long_functions(path, code))
    return findings


def main():
    args = [a for a in sys.argv[1:] if a != "--graph"]
    show = "--graph" in sys.argv[1:]
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not args:
        args = [os.path.join(here, "crates", c) for c in sorted(os.listdir(os.path.join(here, "crates")))]
        args.append(here)
    findings = []
    for crate in args:
        findings.extend(check(crate, show))
    for f in findings:
        print(f)
    print(f"{len(args)} crates checked, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
