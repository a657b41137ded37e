//! IMAP command framing and decoding without a session: the input is cut into commands the
//! way the session's reader does (a line, or a line ending with a literal announcement
//! (`pecd_imap::framing::announcement`) followed by its bytes and the rest of the command),
//! and each command goes through what `Session::handle` runs before dispatch: pecd's
//! extended LIST and SEARCH RETURN recognisers, the CHANGEDSINCE 0 rewrite, then imap-codec's
//! `CommandCodec`. Fast, so it reaches far more decoder states than `imap_session`.
#![no_main]

use imap_codec::decode::Decoder;
use imap_codec::CommandCodec;
use libfuzzer_sys::fuzz_target;
use pecd_imap::{extended, framing};

/// The largest literal taken as part of a command here (the session's limit is the maximum
/// message size; this keeps inputs small without changing what is decoded).
const MAX_LITERAL: u64 = 1 << 16;

fn decode(command: &[u8]) {
    let _ = framing::tag_of(command);
    if let Some(Ok(list)) = extended::list(command) {
        for basic in &list.basic {
            let _ = CommandCodec::default().decode(basic);
        }
        return;
    }
    if let Some(Ok((rewritten, _))) = extended::search(command) {
        let _ = CommandCodec::default().decode(&rewritten);
        return;
    }
    if CommandCodec::default().decode(command).is_err() {
        if let Some(rewritten) = extended::changedsince_zero(command) {
            let _ = CommandCodec::default().decode(&rewritten);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut command: Vec<u8> = Vec::new();
    while !rest.is_empty() {
        let (line, after) = match rest.windows(2).position(|w| w == b"\r\n") {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = after;
        command.extend_from_slice(line);
        command.extend_from_slice(b"\r\n");
        match framing::announcement(line) {
            Some(a) if a.length <= MAX_LITERAL && a.length as usize <= rest.len() => {
                let (literal, after) = rest.split_at(a.length as usize);
                command.extend_from_slice(literal);
                rest = after;
            }
            _ => {
                decode(&command);
                command.clear();
            }
        }
    }
    if !command.is_empty() {
        decode(&command);
    }
});
