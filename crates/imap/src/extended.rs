//! Extended command syntaxes that imap-codec 2.0.0-alpha.10 does not decode: the options of
//! LIST-EXTENDED (RFC 5258) and LIST-STATUS (RFC 5819), and SEARCH RETURN of ESEARCH
//! (RFC 4731). Each is recognised here and rewritten into the basic command that imap-codec
//! does decode, with the options returned beside it.

/// One top-level token of a command line, as raw bytes (quotes, literal announcement and
/// literal data included), so that it can be put back into a command unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Atom(&'a [u8]),
    String(&'a [u8]),
    Group(&'a [u8]),
}

impl<'a> Token<'a> {
    fn raw(&self) -> &'a [u8] {
        match self {
            Token::Atom(r) | Token::String(r) | Token::Group(r) => r,
        }
    }

    fn is_atom(&self, word: &str) -> bool {
        matches!(self, Token::Atom(a) if a.eq_ignore_ascii_case(word.as_bytes()))
    }
}

/// Splits `input` (one command without its trailing CRLF) into top-level tokens; `None` when
/// it is malformed (unbalanced parentheses or quotes, short literal).
fn tokens(input: &[u8]) -> Option<Vec<Token<'_>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b' ' => i += 1,
            b'"' => {
                let end = quoted_end(input, i)?;
                out.push(Token::String(&input[i..end]));
                i = end;
            }
            b'{' | b'~' => {
                let end = literal_end(input, i)?;
                out.push(Token::String(&input[i..end]));
                i = end;
            }
            b'(' => {
                let start = i;
                let mut depth = 0usize;
                loop {
                    match *input.get(i)? {
                        b'(' => {
                            depth += 1;
                            i += 1;
                        }
                        b')' => {
                            depth -= 1;
                            i += 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        b'"' => i = quoted_end(input, i)?,
                        b'{' | b'~' => i = literal_end(input, i)?,
                        _ => i += 1,
                    }
                }
                out.push(Token::Group(&input[start..i]));
            }
            _ => {
                let start = i;
                while i < input.len() && !matches!(input[i], b' ' | b'(' | b')') {
                    i += 1;
                }
                if i == start {
                    return None;
                }
                out.push(Token::Atom(&input[start..i]));
            }
        }
    }
    Some(out)
}

fn quoted_end(input: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match *input.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// End of a literal starting at `start` (`{n}` or `~{n}`, CRLF, n bytes).
fn literal_end(input: &[u8], start: usize) -> Option<usize> {
    let open = if input[start] == b'~' {
        start + 1
    } else {
        start
    };
    if input.get(open) != Some(&b'{') {
        // A `~` that does not start a literal8 is part of an atom.
        return None;
    }
    let close = open + input[open..].iter().position(|&b| b == b'}')?;
    let announced = &input[open + 1..close];
    let digits = announced.strip_suffix(b"+").unwrap_or(announced);
    // The framing layer accepts at most 19 digits; anything longer is not a literal.
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let data = close + 1;
    if input.get(data..data.checked_add(2)?)? != b"\r\n" {
        return None;
    }
    let end = data.checked_add(2)?.checked_add(n)?;
    (end <= input.len()).then_some(end)
}

fn group_words(group: &[u8]) -> Option<Vec<Token<'_>>> {
    tokens(group.strip_prefix(b"(")?.strip_suffix(b")")?)
}

/// LIST options of RFC 5258 and RFC 5819.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListOptions {
    /// Selection SUBSCRIBED: only subscribed names (implies returning \Subscribed).
    pub select_subscribed: bool,
    /// Selection SPECIAL-USE (RFC 6154): only folders with a special use.
    pub select_special_use: bool,
    /// Selection RECURSIVEMATCH: also report parents of matching children (CHILDINFO).
    pub recursive_match: bool,
    pub return_subscribed: bool,
    pub return_children: bool,
    /// STATUS items of LIST-STATUS, as the text inside the parentheses.
    pub status: Option<Vec<u8>>,
}

/// A LIST command in extended form, rewritten as one basic `LIST ref pattern` per pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedList {
    pub basic: Vec<Vec<u8>>,
    pub options: ListOptions,
}

/// Recognises an extended LIST (`tag LIST (opts) ref pattern(s) [RETURN (opts)]`); `None`
/// for a basic LIST or anything else. `Err` carries the text of a BAD reply.
pub fn list(command: &[u8]) -> Option<Result<ExtendedList, &'static str>> {
    let line = command.strip_suffix(b"\r\n").unwrap_or(command);
    let toks = tokens(line)?;
    if toks.len() < 3 || !toks[1].is_atom("LIST") {
        return None;
    }
    let (tag, mut rest) = (toks[0].raw(), &toks[2..]);
    let mut options = ListOptions::default();
    let mut extended = false;
    if let Some(Token::Group(g)) = rest.first() {
        extended = true;
        let Some(words) = group_words(g) else {
            return Some(Err("Malformed LIST selection options"));
        };
        for w in &words {
            match w {
                w if w.is_atom("SUBSCRIBED") => options.select_subscribed = true,
                w if w.is_atom("SPECIAL-USE") => options.select_special_use = true,
                w if w.is_atom("RECURSIVEMATCH") => options.recursive_match = true,
                w if w.is_atom("REMOTE") => {}
                _ => return Some(Err("Unknown LIST selection option")),
            }
        }
        rest = &rest[1..];
    }
    let (reference, patterns, after) = match rest {
        [r, p, after @ ..] => (r, p, after),
        _ => {
            return if extended {
                Some(Err("LIST needs a reference and a pattern"))
            } else {
                None
            }
        }
    };
    let patterns: Vec<&[u8]> = match patterns {
        Token::Group(g) => {
            extended = true;
            match group_words(g) {
                Some(words) if !words.is_empty() => words.iter().map(Token::raw).collect(),
                _ => return Some(Err("Malformed LIST pattern list")),
            }
        }
        p => vec![p.raw()],
    };
    match after {
        [] => {}
        [ret, Token::Group(g)] if ret.is_atom("RETURN") => {
            extended = true;
            let Some(words) = group_words(g) else {
                return Some(Err("Malformed LIST return options"));
            };
            let mut i = 0;
            while i < words.len() {
                match &words[i] {
                    w if w.is_atom("SUBSCRIBED") => options.return_subscribed = true,
                    w if w.is_atom("CHILDREN") => options.return_children = true,
                    // Special-use attributes are always returned (CLIENTS.md §5 bug 6).
                    w if w.is_atom("SPECIAL-USE") => {}
                    w if w.is_atom("STATUS") => match words.get(i + 1) {
                        Some(Token::Group(items)) => {
                            options.status = Some(items[1..items.len() - 1].to_vec());
                            i += 1;
                        }
                        _ => return Some(Err("RETURN STATUS needs a list of items")),
                    },
                    _ => return Some(Err("Unknown LIST return option")),
                }
                i += 1;
            }
        }
        _ => {
            return if extended {
                Some(Err("Unexpected LIST arguments"))
            } else {
                None
            }
        }
    }
    if !extended {
        return None;
    }
    if options.recursive_match && !options.select_subscribed {
        // RFC 5258 §3: RECURSIVEMATCH alone is an error.
        return Some(Err("RECURSIVEMATCH needs another selection option"));
    }
    let basic = patterns
        .iter()
        .map(|p| [tag, b" LIST ", reference.raw(), b" ", p, b"\r\n"].concat())
        .collect();
    Some(Ok(ExtendedList { basic, options }))
}

/// ESEARCH result options (RFC 4731).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
}

/// Recognises `tag [UID] SEARCH RETURN (options) criteria` and rewrites it without the
/// RETURN part. `None` when the command is not a SEARCH with RETURN.
pub fn search(command: &[u8]) -> Option<Result<(Vec<u8>, SearchReturn), &'static str>> {
    let line = command.strip_suffix(b"\r\n").unwrap_or(command);
    let toks = tokens(line)?;
    let at = if toks.get(1)?.is_atom("UID") { 2 } else { 1 };
    if !toks.get(at)?.is_atom("SEARCH") || !toks.get(at + 1)?.is_atom("RETURN") {
        return None;
    }
    let Some(Token::Group(g)) = toks.get(at + 2) else {
        return Some(Err("SEARCH RETURN needs a list of options"));
    };
    let mut options = SearchReturn::default();
    for w in group_words(g).unwrap_or_default() {
        match w {
            w if w.is_atom("MIN") => options.min = true,
            w if w.is_atom("MAX") => options.max = true,
            w if w.is_atom("ALL") => options.all = true,
            w if w.is_atom("COUNT") => options.count = true,
            _ => return Some(Err("Unknown SEARCH return option")),
        }
    }
    if options == SearchReturn::default() {
        // RFC 4731 §3.1: RETURN () means ALL.
        options.all = true;
    }
    // Everything before RETURN, then everything after its option list, byte for byte.
    let head_end = toks[at].raw().as_ptr() as usize - line.as_ptr() as usize + toks[at].raw().len();
    let tail_start = g.as_ptr() as usize - line.as_ptr() as usize + g.len();
    let mut rewritten = line[..head_end].to_vec();
    rewritten.extend_from_slice(&line[tail_start..]);
    rewritten.extend_from_slice(b"\r\n");
    Some(Ok((rewritten, options)))
}

/// Rewrites `CHANGEDSINCE 0` (valid in RFC 7162, sent by iOS Mail, refused by imap-codec,
/// which wants a non-zero value) as `CHANGEDSINCE 1`; the caller then treats the 1 as 0.
/// `None` when the command has no such modifier.
pub fn changedsince_zero(command: &[u8]) -> Option<Vec<u8>> {
    let upper = command.to_ascii_uppercase();
    let needle = b"CHANGEDSINCE 0";
    let at = upper.windows(needle.len()).position(|w| w == needle)?;
    let after = command.get(at + needle.len()).copied();
    if after.is_some_and(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut out = command.to_vec();
    out[at + needle.len() - 1] = b'1';
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thunderbird_list() {
        let l = list(b"5 LIST (SUBSCRIBED) \"\" \"*\" RETURN (SPECIAL-USE)\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(l.basic, vec![b"5 LIST \"\" \"*\"\r\n".to_vec()]);
        assert!(l.options.select_subscribed);
    }

    #[test]
    fn list_status_and_patterns() {
        let l = list(b"a LIST \"\" (INBOX \"Sent\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))")
            .unwrap()
            .unwrap();
        assert_eq!(l.basic.len(), 2);
        assert_eq!(l.basic[1], b"a LIST \"\" \"Sent\"\r\n".to_vec());
        assert!(l.options.return_children);
        assert_eq!(l.options.status.as_deref(), Some(&b"MESSAGES UNSEEN"[..]));
    }

    #[test]
    fn basic_list_is_left_to_imap_codec() {
        assert_eq!(list(b"a LIST \"\" *\r\n"), None);
        assert_eq!(list(b"a LIST {0}\r\n \"*\"\r\n"), None);
        assert_eq!(list(b"a SELECT INBOX\r\n"), None);
    }

    #[test]
    fn bad_list_options() {
        assert!(list(b"a LIST (RECURSIVEMATCH) \"\" *").unwrap().is_err());
        assert!(list(b"a LIST (BOGUS) \"\" *").unwrap().is_err());
        assert!(list(b"a LIST \"\" * RETURN (STATUS)").unwrap().is_err());
    }

    #[test]
    fn search_return() {
        let (cmd, r) = search(b"t1 UID SEARCH RETURN (MIN COUNT) UNSEEN SUBJECT \"a (b\"\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(cmd, b"t1 UID SEARCH UNSEEN SUBJECT \"a (b\"\r\n".to_vec());
        assert!(r.min && r.count && !r.all);
        let (cmd, r) = search(b"t2 SEARCH RETURN () ALL").unwrap().unwrap();
        assert_eq!(cmd, b"t2 SEARCH ALL\r\n".to_vec());
        assert!(r.all);
        assert_eq!(search(b"t3 SEARCH UNSEEN"), None);
    }

    #[test]
    fn changedsince_zero_rewrite() {
        assert_eq!(
            changedsince_zero(b"a FETCH 1:* (FLAGS) (CHANGEDSINCE 0)\r\n").unwrap(),
            b"a FETCH 1:* (FLAGS) (CHANGEDSINCE 1)\r\n".to_vec()
        );
        assert_eq!(
            changedsince_zero(b"a FETCH 1 (FLAGS) (CHANGEDSINCE 05)"),
            None
        );
        assert_eq!(changedsince_zero(b"a FETCH 1 (FLAGS)"), None);
    }

    /// `data + 2 + n` on an unbounded digit string overflowed and panicked the session.
    #[test]
    fn literal_length_overflow_is_not_a_literal() {
        for line in [
            &b"a LIST {99999999999999999999999}\r\n \"*\""[..],
            b"a LIST {18446744073709551615}\r\n\"\" \"*\"",
            b"a LIST {18446744073709551614+}\r\n\"\" \"*\"",
            b"a LIST {9999999999999999999}\r\n\"\" \"*\"",
            b"a LIST (SUBSCRIBED) ~{18446744073709551615}\r\n \"*\"",
            b"a LIST ({18446744073709551615}\r\nx) \"\" *",
            b"a LIST {1x}\r\n \"*\"",
            b"a LIST {}\r\n \"*\"",
        ] {
            assert_eq!(tokens(line), None, "{}", String::from_utf8_lossy(line));
            assert!(
                !matches!(list(line), Some(Ok(_))),
                "{}",
                String::from_utf8_lossy(line)
            );
            assert!(search(line).is_none());
        }
        assert_eq!(literal_end(b"{18446744073709551615}\r\n", 0), None);
        assert_eq!(literal_end(b"{2}\r\nab", 0), Some(7));
        assert_eq!(literal_end(b"{2+}\r\nab", 0), Some(8));
        assert_eq!(literal_end(b"{3}\r\nab", 0), None);
    }

    #[test]
    fn literals_are_skipped_whole() {
        let t = tokens(b"a LIST {3}\r\n(\") \"*\"").unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t[2], Token::String(b"{3}\r\n(\")"));
    }
}
