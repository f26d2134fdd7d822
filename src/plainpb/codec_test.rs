//! The hand-written codec against prost, for every payload type.

use super::*;
use crate::pb;
use crate::plainpb::{escape_into, unescape_into};
use crate::types::{year_start, ArchDbType, ArchiverSample, SampleValue, Timestamp};
use proptest::prelude::*;
use prost::Message;

fn fvs(s: &ArchiverSample) -> Vec<pb::FieldValue> {
    s.field_values()
        .iter()
        .map(|(n, v)| pb::FieldValue {
            name: n.clone(),
            val: v.clone(),
        })
        .collect()
}

/// Encodes with prost, setting optional fields exactly as the Java writer does.
fn prost_encode(s: &ArchiverSample, year: i32) -> Vec<u8> {
    let ts = s.ts();
    let soy = (ts.secs - year_start(year)) as u32;
    let nano = ts.nanos;
    let sev = (s.severity != 0).then_some(s.severity);
    let stat = (s.status != 0).then_some(s.status);
    let rc = s.repeat_count();
    let fa = s.field_actual_change();
    let fv = fvs(s);
    macro_rules! msg {
        ($t:ident, $val:expr) => {
            pb::$t {
                secondsintoyear: soy,
                nano,
                val: $val,
                severity: sev,
                status: stat,
                repeatcount: rc,
                fieldvalues: fv,
                fieldactualchange: fa,
            }
            .encode_to_vec()
        };
    }
    match &s.value {
        SampleValue::String(v) => msg!(ScalarString, v.clone()),
        SampleValue::Short(v) => msg!(ScalarShort, i32::from(*v)),
        SampleValue::Float(v) => msg!(ScalarFloat, *v),
        SampleValue::Enum(v) => msg!(ScalarEnum, i32::from(*v)),
        SampleValue::Byte(v) => msg!(ScalarByte, vec![*v as u8]),
        SampleValue::Int(v) => msg!(ScalarInt, *v),
        SampleValue::Double(v) => msg!(ScalarDouble, *v),
        SampleValue::VString(v) => msg!(VectorString, v.clone()),
        SampleValue::VShort(v) => msg!(VectorShort, v.iter().map(|x| i32::from(*x)).collect()),
        SampleValue::VFloat(v) => msg!(VectorFloat, v.clone()),
        SampleValue::VEnum(v) => msg!(VectorEnum, v.iter().map(|x| i32::from(*x)).collect()),
        SampleValue::VByte(v) => msg!(VectorChar, v.clone()),
        SampleValue::VInt(v) => msg!(VectorInt, v.clone()),
        SampleValue::VDouble(v) => msg!(VectorDouble, v.clone()),
        SampleValue::V4Generic(v) => pb::V4GenericBytes {
            secondsintoyear: soy,
            nano,
            val: v.clone(),
            severity: sev,
            status: stat,
            repeatcount: rc,
            fieldvalues: fv,
            fieldactualchange: fa,
            user_tag: s.user_tag(),
        }
        .encode_to_vec(),
    }
}

fn special_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![Just('\n'), Just('\r'), Just('\u{1b}'), Just('\0'), any::<char>()],
        0..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn special_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![Just(0x0Au8), Just(0x0D), Just(0x1B), any::<u8>()],
        0..40,
    )
}

fn value_strategy() -> impl Strategy<Value = SampleValue> {
    let f64s = prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(-0.09),
        any::<f64>()
    ];
    let f32s = prop_oneof![Just(f32::NAN), Just(f32::NEG_INFINITY), any::<f32>()];
    prop_oneof![
        special_string().prop_map(SampleValue::String),
        any::<i16>().prop_map(SampleValue::Short),
        f32s.clone().prop_map(SampleValue::Float),
        any::<i16>().prop_map(SampleValue::Enum),
        any::<i8>().prop_map(SampleValue::Byte),
        any::<i32>().prop_map(SampleValue::Int),
        f64s.clone().prop_map(SampleValue::Double),
        prop::collection::vec(special_string(), 0..5).prop_map(SampleValue::VString),
        prop::collection::vec(any::<i16>(), 0..20).prop_map(SampleValue::VShort),
        prop::collection::vec(f32s, 0..20).prop_map(SampleValue::VFloat),
        prop::collection::vec(any::<i16>(), 0..20).prop_map(SampleValue::VEnum),
        special_bytes().prop_map(SampleValue::VByte),
        prop::collection::vec(any::<i32>(), 0..20).prop_map(SampleValue::VInt),
        prop::collection::vec(f64s, 0..20).prop_map(SampleValue::VDouble),
        special_bytes().prop_map(SampleValue::V4Generic),
    ]
}

prop_compose! {
    fn sample_strategy()(
        year in 1900i32..2500,
        soy_kind in 0u8..4,
        soy_any in 0u32..31_536_000,
        nanos in prop_oneof![Just(0u32), Just(999_999_999u32), 0u32..1_000_000_000],
        value in value_strategy(),
        severity in prop_oneof![Just(0i32), 0i32..4, any::<i32>()],
        status in prop_oneof![Just(0i32), 0i32..22],
        fields in prop::collection::vec((special_string(), special_string()), 0..3),
        repeat_count in prop::option::of(any::<u32>()),
        fac in prop::option::of(any::<bool>()),
        user_tag in prop::option::of(any::<u32>()),
    ) -> (i32, ArchiverSample) {
        let year_len = year_start(year + 1) - year_start(year);
        let soy = match soy_kind { 0 => 0, 1 => year_len - 1, _ => i64::from(soy_any) };
        let mut s = ArchiverSample::new(Timestamp::new(year_start(year) + soy, nanos).to_system_time(), value);
        s.severity = severity;
        s.status = status;
        s.extra_mut().field_values = fields;
        s.extra_mut().repeat_count = repeat_count;
        s.extra_mut().field_actual_change = fac;
        if s.value.db_type() == ArchDbType::V4GenericBytes {
            s.extra_mut().user_tag = user_tag;
        }
        s.normalize_extra();
        (year, s)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encode_matches_prost_and_round_trips((year, s) in sample_strategy()) {
        let mut ours = Vec::new();
        encode_sample(&s, year, &mut ours).unwrap();
        prop_assert_eq!(&ours, &prost_encode(&s, year));
        let back = decode_sample(s.value.db_type(), &ours, year).unwrap();
        let mut again = Vec::new();
        encode_sample(&back, year, &mut again).unwrap();
        prop_assert_eq!(&again, &ours);
        prop_assert_eq!(back.timestamp, s.timestamp);
        prop_assert_eq!(back.field_values(), s.field_values());
        prop_assert_eq!(back.extra.is_some(), s.extra.is_some());
        prop_assert_eq!((back.severity, back.status), (s.severity, s.status));
        prop_assert_eq!(decode_timestamp(&ours).unwrap().1, s.ts().nanos);
        // Escaped form has no newline and unescapes to the same bytes.
        let mut esc = Vec::new();
        escape_into(&ours, &mut esc);
        prop_assert!(!esc.contains(&0x0A));
        let mut un = Vec::new();
        unescape_into(&esc, &mut un).unwrap();
        prop_assert_eq!(un, ours);
    }

    #[test]
    fn arbitrary_bytes_never_panic(ty in 0i32..15, bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let ty = ArchDbType::from_i32(ty).unwrap();
        let _ = decode_sample(ty, &bytes, 2024);
        let _ = decode_timestamp(&bytes);
        let _ = unescape_into(&bytes, &mut Vec::new());
    }
}

#[test]
fn decoder_accepts_unpacked_vectors_and_unknown_fields() {
    // VectorDouble with two unpacked elements and an unknown field 15.
    let mut raw = vec![0x08, 0x01, 0x10, 0x02];
    raw.push(0x19);
    raw.extend_from_slice(&1.5f64.to_le_bytes());
    raw.push(0x19);
    raw.extend_from_slice(&2.5f64.to_le_bytes());
    raw.extend_from_slice(&[0x78, 0x05]);
    let s = decode_sample(ArchDbType::WaveformDouble, &raw, 2024).unwrap();
    assert_eq!(s.value, SampleValue::VDouble(vec![1.5, 2.5]));
    assert_eq!(s.ts(), Timestamp::new(year_start(2024) + 1, 2));
}

#[test]
fn missing_required_fields_are_errors() {
    assert!(matches!(
        decode_sample(ArchDbType::ScalarDouble, &[0x08, 0x01, 0x10, 0x00], 2024),
        Err(SampleCodecError::Missing("val"))
    ));
    assert!(decode_sample(ArchDbType::ScalarDouble, &[0x10, 0x00], 2024).is_err());
    // Wrong wire type for the value.
    assert!(matches!(
        decode_sample(
            ArchDbType::ScalarDouble,
            &[0x08, 0x01, 0x10, 0x00, 0x18, 0x01],
            2024
        ),
        Err(SampleCodecError::WireType { .. })
    ));
}

#[test]
fn rejects_timestamps_outside_the_year() {
    let s = ArchiverSample::at(year_start(2025), 0, SampleValue::Double(1.0));
    assert!(matches!(
        encode_sample(&s, 2024, &mut Vec::new()),
        Err(SampleCodecError::OutsideYear { .. })
    ));
}
