//! The PayloadInfo header line.

use prost::Message;

use super::escape::escape_into;
use crate::pb::PayloadInfo;

/// Decodes an unescaped header message.
pub fn decode_header(raw: &[u8]) -> Result<PayloadInfo, prost::DecodeError> {
    PayloadInfo::decode(raw)
}

/// Encodes a header message (unescaped, no newline).
pub fn encode_header(info: &PayloadInfo) -> Vec<u8> {
    info.encode_to_vec()
}

/// The complete escaped header line including its terminating newline.
pub fn header_line(info: &PayloadInfo) -> Vec<u8> {
    let raw = encode_header(info);
    let mut out = Vec::with_capacity(raw.len() + 8);
    escape_into(&raw, &mut out);
    out.push(super::NEWLINE);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ArchDbType;

    #[test]
    fn file_header_matches_worked_example() {
        let line = header_line(&PayloadInfo::for_file(
            ArchDbType::ScalarDouble,
            "ROOT:SUB:pv",
            2024,
        ));
        let mut expect = vec![0x08, 0x06, 0x12, 0x0b];
        expect.extend_from_slice(b"ROOT:SUB:pv");
        expect.extend_from_slice(&[0x18, 0xe8, 0x0f, 0x0a]);
        assert_eq!(line, expect);
    }
}
