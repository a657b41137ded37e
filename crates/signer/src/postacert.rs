//! The original as a busta di trasporto carries it in postacert.eml (PEC.md §4.3, §6.1 step
//! 5): its Message-ID fields replaced by the PEC msgid and `X-Riferimento-Message-ID` added
//! with the client's msgid, every other byte kept.

use crate::mime;

/// The original as carried in postacert.eml (PEC.md §4.3): its Message-ID fields replaced by
/// the PEC msgid and `X-Riferimento-Message-ID` added with the client's msgid, everything
/// else byte for byte (line ends made canonical).
pub fn rewrite_original(original: &[u8], pec_id: &str, msgid: Option<&str>) -> Vec<u8> {
    rewrite_original_owned(mime::crlf(original).into_owned(), pec_id, msgid)
}

/// [`rewrite_original`] of an original the caller owns, rewritten in place: no copy of the
/// message but the shift of the bytes after the first Message-ID field (none when the
/// buffer has room for the new fields and the line ends are canonical already).
pub fn rewrite_original_owned(mut original: Vec<u8>, pec_id: &str, msgid: Option<&str>) -> Vec<u8> {
    if let std::borrow::Cow::Owned(canonical) = mime::crlf(&original) {
        original = canonical;
    }
    let mut new = String::new();
    if let Some(m) = msgid {
        new.push_str(&format!("X-Riferimento-Message-ID: {m}\r\n"));
    }
    new.push_str(&format!("Message-ID: <{pec_id}>\r\n"));
    // The Message-ID fields, in order: the first is replaced, the others removed.
    let ids: Vec<(usize, usize)> = mime::fields(&original)
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("Message-ID"))
        .map(|f| (f.start, f.start + f.raw.len()))
        .collect();
    for &(start, end) in ids.iter().skip(1).rev() {
        original.drain(start..end);
    }
    let (start, end) = match ids.first() {
        Some(&first) => first,
        None => {
            let at = mime::header_end(&original);
            (at, at)
        }
    };
    original.splice(start..end, new.bytes());
    original
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rewrite as it was written before it worked in place: a new buffer, copied piece
    /// by piece.
    fn by_copy(original: &[u8], pec_id: &str, msgid: Option<&str>) -> Vec<u8> {
        let original = mime::canonical_crlf(original);
        let fields = mime::fields(&original);
        let mut new = String::new();
        if let Some(m) = msgid {
            new.push_str(&format!("X-Riferimento-Message-ID: {m}\r\n"));
        }
        new.push_str(&format!("Message-ID: <{pec_id}>\r\n"));
        let insert_at = fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("Message-ID"))
            .map_or_else(|| mime::header_end(&original), |f| f.start);
        let mut out = Vec::new();
        let mut pos = 0;
        let mut inserted = false;
        for f in fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case("Message-ID"))
        {
            out.extend_from_slice(&original[pos..f.start]);
            if !inserted {
                out.extend_from_slice(new.as_bytes());
                inserted = true;
            }
            pos = f.start + f.raw.len();
        }
        if !inserted {
            out.extend_from_slice(&original[..insert_at]);
            out.extend_from_slice(new.as_bytes());
            pos = insert_at;
        }
        out.extend_from_slice(&original[pos..]);
        out
    }

    #[test]
    fn in_place_equals_the_copying_rewrite() {
        let cases: &[&[u8]] = &[
            b"From: a@b\r\nMessage-ID: <x@y>\r\nSubject: s\r\n\r\nbody\r\n",
            b"Message-ID: <1@y>\r\nFrom: a\r\nmessage-id:\r\n <2@y>\r\nTo: c\r\n\r\nb\r\n",
            b"From: a@b\nSubject: no id\n\nbody\n",
            b"From: a@b\r\nSubject: no body",
            b"",
            b"\r\nbody only\r\n",
            b"Received: x\r\n\tby y\r\nMessage-Id: <z>\r\n\r\nMessage-ID: <not a field>\r\n",
        ];
        for case in cases {
            for msgid in [None, Some("<orig@client>")] {
                assert_eq!(
                    rewrite_original(case, "pecd.1@pec", msgid),
                    by_copy(case, "pecd.1@pec", msgid),
                    "{}",
                    String::from_utf8_lossy(case)
                );
            }
        }
    }
}
