//! Every route registered under `/api/v1/` is in the OpenAPI document and the other way
//! round. The routes are read from the routers' source (`.route("PATH", METHOD(handler)...)`
//! in `src/api/*.rs`, a `let` bound method router included), so a route added without its
//! `#[utoipa::path]` and its line in [`ApiDoc`] fails here.

use std::collections::BTreeSet;

use super::*;

const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

/// The text from `open` (just after a `(`) to its matching `)`.
fn balanced(text: &str) -> &str {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced .route(: {text:.80}");
}

/// Method names called in `expr` (`get(h)`, `.post(h)`...).
fn methods_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in METHODS {
        let call = format!("{m}(");
        let mut from = 0;
        while let Some(i) = expr[from..].find(&call) {
            let at = from + i;
            let before = expr[..at].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                out.push(m.to_uppercase());
            }
            from = at + call.len();
        }
    }
    out
}

/// `let NAME = EXPR;` bindings of a source file.
fn lets(src: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in src.split("let ").skip(1) {
        let Some((name, rest)) = part.split_once('=') else {
            continue;
        };
        let name = name.trim().trim_start_matches("mut ").to_string();
        if name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            let expr = rest.split(';').next().unwrap_or_default().to_string();
            out.push((name, expr));
        }
    }
    out
}

fn is_word_in(word: &str, text: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|w| w == word)
}

/// (METHOD, path) of every `.route(...)` under `/api/` in `src/api/*.rs`.
fn registered() -> BTreeSet<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
    let mut out = BTreeSet::new();
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        files += 1;
        let src = std::fs::read_to_string(&path).unwrap();
        let bindings = lets(&src);
        for call in src.split(".route(").skip(1) {
            let args = balanced(call);
            let rest = args.trim_start();
            assert!(
                rest.starts_with('"'),
                "{}: a route whose path is not a literal: {rest:.60}",
                path.display()
            );
            let (route, expr) = rest[1..].split_once('"').unwrap();
            if !route.starts_with("/api/") {
                continue;
            }
            let mut found = methods_in(expr);
            for (name, bound) in &bindings {
                if is_word_in(name, expr) {
                    found.extend(methods_in(bound));
                }
            }
            assert!(!found.is_empty(), "{route}: no method found in {expr}");
            for m in found {
                out.insert((m, route.to_string()));
            }
        }
    }
    assert!(files >= 6, "the API modules were not found in {dir}");
    out
}

fn documented() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_api_route_is_in_the_openapi_document_and_nothing_else() {
    let routes = registered();
    let doc = documented();
    assert!(routes.len() > 50, "{routes:?}");
    let undocumented: Vec<_> = routes.difference(&doc).collect();
    let unrouted: Vec<_> = doc.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes without #[utoipa::path] in ApiDoc: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

#[test]
fn the_route_reader_sees_chained_and_bound_methods() {
    let src = r#"let upload = put(add).layer(x::max(n));
        Router::new().route("/api/v1/a/{b}", upload.get(one).delete(two))"#;
    let call = src.split(".route(").nth(1).unwrap();
    let expr = balanced(call);
    assert_eq!(methods_in(expr), ["GET", "DELETE"]);
    assert_eq!(lets(src)[0].0, "upload");
    assert_eq!(methods_in(&lets(src)[0].1), ["PUT"]);
}

#[test]
fn every_operation_answers_errors_with_the_error_document() {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success answer"
            );
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        r["$ref"], "#/components/responses/ErrorDocument",
                        "{method} {path} {status}"
                    );
                }
            }
            if path != "/api/v1/openapi.json" && path != "/api/v1/login" {
                let body_or_session = op.get("requestBody").is_some()
                    || op
                        .get("security")
                        .is_some_and(|s| s != &serde_json::json!([{}]));
                assert!(
                    body_or_session || responses.contains_key("401"),
                    "{method} {path}"
                );
            }
        }
    }
}

#[test]
fn operation_ids_are_unique_and_every_reference_resolves() {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
        }
    }
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/").skip(1) {
        let target = part.split('"').next().unwrap();
        let (kind, name) = target.split_once('/').unwrap();
        assert!(
            doc["components"][kind].get(name).is_some(),
            "unresolved reference {target}"
        );
    }
}
