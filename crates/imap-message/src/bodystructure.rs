//! FETCH BODY and BODYSTRUCTURE (RFC 3501 §7.4.2, `body` in §9).

use imap_codec::imap_types::{
    body::{
        BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
        SinglePartExtensionData, SpecificFields,
    },
    core::{IString, NString, Vec1},
};

use crate::{
    envelope::envelope,
    mime::{parse_disposition, slice, Kind, Part},
    strings::{display_text, istring, nstring, unfold},
};

pub(crate) fn body_structure(raw: &[u8], part: &Part, extensible: bool) -> BodyStructure<'static> {
    if let Kind::Multipart(children) = &part.kind {
        let bodies: Vec<_> = children
            .iter()
            .map(|child| body_structure(raw, child, extensible))
            .collect();
        if let Ok(bodies) = Vec1::try_from(bodies) {
            return BodyStructure::Multi {
                bodies,
                subtype: text(&part.content_type.subtype),
                extension_data: extensible.then(|| MultiPartExtensionData {
                    parameter_list: parameters(&part.content_type.params),
                    tail: Some(disposition(raw, part)),
                }),
            };
        }
    }

    let body = slice(raw, &part.body);
    let ct = &part.content_type;
    let mut parameter_list = parameters(&ct.params);
    if ct.ty == "text" && ct.param("charset").is_none() {
        // RFC 2045 §5.2: the charset of a text part defaults to US-ASCII; clients rely on it.
        parameter_list.push((text("charset"), text("us-ascii")));
    }
    let basic = BasicFields {
        parameter_list,
        id: nstring(part.first_value(raw, "content-id").map(unfold), false),
        description: nstring(
            part.first_value(raw, "content-description").map(unfold),
            false,
        ),
        content_transfer_encoding: text(part.encoding.as_deref().unwrap_or("7BIT")),
        size: u32::try_from(body.len()).unwrap_or(u32::MAX),
    };
    let specific = match (&part.kind, ct.ty.as_str()) {
        (Kind::Message(inner), _) => SpecificFields::Message {
            envelope: Box::new(envelope(raw, inner, false)),
            body_structure: Box::new(body_structure(raw, inner, extensible)),
            number_of_lines: line_count(body),
        },
        // A message/rfc822 that could not be walked (transfer-encoded, or nested too deep)
        // must not be labelled message/rfc822: clients then expect an envelope to follow.
        (_, "message") if ct.subtype == "rfc822" => SpecificFields::Basic {
            r#type: text("application"),
            subtype: text("octet-stream"),
        },
        (_, "text") => SpecificFields::Text {
            subtype: text(&ct.subtype),
            number_of_lines: line_count(body),
        },
        _ => SpecificFields::Basic {
            r#type: text(&ct.ty),
            subtype: text(&ct.subtype),
        },
    };
    BodyStructure::Single {
        body: Body { basic, specific },
        extension_data: extensible.then(|| SinglePartExtensionData {
            md5: NString::NIL,
            tail: Some(disposition(raw, part)),
        }),
    }
}

/// Lines as a reader counts them: a last line without a line ending still counts.
fn line_count(body: &[u8]) -> u32 {
    let newlines = body.iter().filter(|&&b| b == b'\n').count();
    let partial = usize::from(body.last().is_some_and(|&b| b != b'\n'));
    u32::try_from(newlines + partial).unwrap_or(u32::MAX)
}

fn text(value: &str) -> IString<'static> {
    istring(value.as_bytes().to_vec(), false)
}

/// Parameter values decoded from RFC 2231 (e.g. non-ASCII filenames) go back out RFC 2047
/// encoded, which is what clients without UTF8=ACCEPT decode in BODYSTRUCTURE.
fn parameters(params: &[(String, String)]) -> Vec<(IString<'static>, IString<'static>)> {
    params
        .iter()
        .map(|(name, value)| (text(name), display_text(value.as_bytes().to_vec(), false)))
        .collect()
}

/// body-fld-dsp, body-fld-lang and body-fld-loc (RFC 2183, RFC 3066, RFC 2557).
fn disposition(raw: &[u8], part: &Part) -> Disposition<'static> {
    let disposition = part
        .first_value(raw, "content-disposition")
        .and_then(parse_disposition)
        .map(|parsed| (text(&parsed.ty), parameters(&parsed.params)));
    let language = part
        .first_value(raw, "content-language")
        .map(|value| {
            String::from_utf8_lossy(&unfold(value))
                .split(',')
                .map(str::trim)
                .filter(|tag| !tag.is_empty())
                .map(text)
                .collect()
        })
        .unwrap_or_default();
    Disposition {
        disposition,
        tail: Some(Language {
            language,
            tail: Some(Location {
                location: nstring(part.first_value(raw, "content-location").map(unfold), false),
                extensions: Vec::new(),
            }),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::line_count;

    #[test]
    fn line_count_counts_a_trailing_partial_line() {
        assert_eq!(line_count(b""), 0);
        assert_eq!(line_count(b"one"), 1);
        assert_eq!(line_count(b"one\r\n"), 1);
        assert_eq!(line_count(b"one\r\ntwo"), 2);
        assert_eq!(line_count(b"one\ntwo\n"), 2);
    }
}
