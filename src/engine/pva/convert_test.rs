//! NT structures → samples: Java's type table, value conversions, time
//! stamps and alarms, generic bytes, field names and metadata.

use epics_pva_rs::nt::{NTEnum, NTScalar};
use epics_pva_rs::pvdata::encode::{
    decode_pv_field, decode_type_desc, default_value_for, marked_changed_bitset,
};
use epics_pva_rs::pvdata::{FieldDesc, PvField, PvStructure, ScalarType, ScalarValue};

use super::*;
use crate::engine::pva::server::{set, stamp};

fn nt(st: ScalarType) -> FieldDesc {
    NTScalar::new(st).build()
}

#[test]
fn type_by_the_value_field_as_java() {
    use ArchDbType as T;
    for (st, scalar, array) in [
        (ScalarType::Double, T::ScalarDouble, T::WaveformDouble),
        (ScalarType::Float, T::ScalarFloat, T::WaveformFloat),
        (ScalarType::Int, T::ScalarInt, T::WaveformInt),
        (ScalarType::UInt, T::ScalarInt, T::WaveformInt),
        (ScalarType::Short, T::ScalarShort, T::WaveformShort),
        (ScalarType::UShort, T::ScalarShort, T::WaveformShort),
        (ScalarType::Byte, T::ScalarByte, T::WaveformByte),
        (ScalarType::UByte, T::ScalarByte, T::WaveformByte),
        (ScalarType::String, T::ScalarString, T::WaveformString),
        (ScalarType::Long, T::V4GenericBytes, T::V4GenericBytes),
        (ScalarType::ULong, T::V4GenericBytes, T::V4GenericBytes),
        (ScalarType::Boolean, T::V4GenericBytes, T::V4GenericBytes),
    ] {
        assert_eq!(arch_type(&nt(st)), scalar, "{st:?}");
        assert_eq!(arch_type(&NTScalar::array(st).build()), array, "{st:?}[]");
    }
    assert_eq!(arch_type(&NTEnum::new().build()), T::ScalarEnum);
    let no_value = FieldDesc::Structure {
        struct_id: "x".into(),
        fields: vec![("position".into(), FieldDesc::Scalar(ScalarType::Double))],
    };
    assert_eq!(arch_type(&no_value), T::V4GenericBytes);
    assert_eq!(
        arch_type(&FieldDesc::Scalar(ScalarType::Double)),
        T::V4GenericBytes
    );
}

#[test]
fn values_time_and_alarm() {
    let desc = nt(ScalarType::UInt);
    let mut v = default_value_for(&desc);
    set(&mut v, "value", PvField::Scalar(ScalarValue::UInt(u32::MAX)));
    stamp(&mut v, 1_700_000_000, 123, 9);
    set(&mut v, "alarm.severity", PvField::Scalar(ScalarValue::Int(2)));
    set(&mut v, "alarm.status", PvField::Scalar(ScalarValue::Int(3)));
    let l = Layout::new(&desc);
    let s = l.sample(&v, ArchDbType::ScalarInt).unwrap();
    // Java reads the bits of an unsigned int.
    assert_eq!(s.value, SampleValue::Int(-1));
    assert_eq!((s.ts().secs, s.ts().nanos), (1_700_000_000, 123));
    assert_eq!((s.severity, s.status), (2, 3));
    assert_eq!(s.user_tag(), None, "the user tag is dropped");
    assert_eq!(l.sample(&v, ArchDbType::ScalarDouble), Err(Skip::TypeChange));
    // Nanoseconds out of range: no usable time stamp.
    set(
        &mut v,
        "timeStamp.nanoseconds",
        PvField::Scalar(ScalarValue::Int(-1)),
    );
    assert_eq!(l.sample(&v, ArchDbType::ScalarInt), Err(Skip::NoTimeStamp));
    let wf = NTScalar::array(ScalarType::Double).build();
    let mut w = default_value_for(&wf);
    set(&mut w, "value", PvField::scalar_array_double(vec![1.0, 2.5]));
    stamp(&mut w, 1_700_000_000, 0, 0);
    let s = Layout::new(&wf).sample(&w, ArchDbType::WaveformDouble).unwrap();
    assert_eq!(s.value, SampleValue::VDouble(vec![1.0, 2.5]));
    assert_eq!(element_count(&w), 2);
    let e = NTEnum::new().with_choices(["Off", "On"]);
    let mut ev = e.create();
    set(&mut ev, "value.index", PvField::Scalar(ScalarValue::Int(1)));
    stamp(&mut ev, 1_700_000_000, 0, 0);
    let s = Layout::new(&e.build())
        .sample(&ev, ArchDbType::ScalarEnum)
        .unwrap();
    assert_eq!(s.value, SampleValue::Enum(1));
    assert!(metadata(&ev).contains(&("ENUMS".to_string(), "Off,On".to_string())));
    assert_eq!(meta_text(&ev).as_deref(), Some("On"));
}

#[test]
fn generic_bytes_are_type_then_value_big_endian() {
    let desc = FieldDesc::Structure {
        struct_id: "m:1".into(),
        fields: vec![
            ("x".into(), FieldDesc::Scalar(ScalarType::Int)),
            ("timeStamp".into(), epics_pva_rs::nt::meta::time_desc()),
        ],
    };
    let mut v = default_value_for(&desc);
    set(&mut v, "x", PvField::Scalar(ScalarValue::Int(0x0102_0304)));
    stamp(&mut v, 1_700_000_000, 5, 42);
    let l = Layout::new(&desc);
    assert_eq!(l.dbr, ArchDbType::V4GenericBytes);
    let s = l.sample(&v, ArchDbType::V4GenericBytes).unwrap();
    assert_eq!(s.user_tag(), Some(42));
    let SampleValue::V4Generic(bytes) = &s.value else {
        panic!("{:?}", s.value)
    };
    // Structure tag 0x80, id "m:1", two fields; `x` is int (0x22).
    assert_eq!(&bytes[..9], &[0x80, 3, b'm', b':', b'1', 2, 1, b'x', 0x22]);
    let mut cur = std::io::Cursor::new(bytes.as_slice());
    let back_desc = decode_type_desc(&mut cur, ByteOrder::Big).unwrap();
    let back = decode_pv_field(&back_desc, &mut cur, ByteOrder::Big).unwrap();
    assert_eq!(back_desc, desc);
    assert_eq!(back, v);
    assert_eq!(cur.position() as usize, bytes.len());
    // The value's first bytes are big-endian.
    let PvField::Structure(PvStructure { .. }) = &back else {
        panic!()
    };
}

#[test]
fn field_names_and_changes() {
    let desc = NTScalar::new(ScalarType::Double)
        .with_display()
        .with_form()
        .with_control()
        .with_value_alarm()
        .build();
    let mut v = default_value_for(&desc);
    set(
        &mut v,
        "display.units",
        PvField::Scalar(ScalarValue::String("mm".into())),
    );
    set(&mut v, "display.precision", PvField::Scalar(ScalarValue::Int(3)));
    set(
        &mut v,
        "valueAlarm.highAlarmLimit",
        PvField::Scalar(ScalarValue::Double(90.0)),
    );
    let l = Layout::new(&desc);
    let md = metadata(&v);
    for kv in [("EGU", "mm"), ("PREC", "3"), ("HIHI", "90.0"), ("DRVH", "0.0")] {
        assert!(
            md.contains(&(kv.0.to_string(), kv.1.to_string())),
            "{kv:?} in {md:?}"
        );
    }
    let leaves = l.leaves(&v);
    assert!(leaves.contains(&("display.units".to_string(), "mm".to_string())));
    assert!(leaves.contains(&("timeStamp.userTag".to_string(), "0".to_string())));
    assert!(leaves.iter().all(|(k, _)| k != "value"));
    let ch = marked_changed_bitset(&desc, &["valueAlarm.highAlarmLimit".into()]);
    assert!(!l.timestamp_changed(&ch) && l.property_changed(&ch));
    assert_eq!(
        l.changed_ca_fields(&v, &ch),
        vec![("HIHI".to_string(), "90.0".to_string())]
    );
    // A whole sub-structure marked: all its named leaves.
    let ch = marked_changed_bitset(&desc, &["display".into()]);
    let names: Vec<String> = l.changed_ca_fields(&v, &ch).into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["LOPR", "HOPR", "DESC", "EGU"]);
    let ch = marked_changed_bitset(&desc, &["timeStamp.secondsPastEpoch".into()]);
    assert!(l.timestamp_changed(&ch) && !l.property_changed(&ch));
}

#[test]
fn leaf_text_is_javas() {
    assert_eq!(leaf_text(&PvField::Scalar(ScalarValue::Double(1.0))), "1.0");
    assert_eq!(leaf_text(&PvField::Scalar(ScalarValue::UByte(200))), "-56");
    assert_eq!(
        leaf_text(&PvField::scalar_array_double(vec![1.0, 2.0])),
        "[1.0, 2.0]"
    );
    assert_eq!(leaf_text(&PvField::Scalar(ScalarValue::Boolean(true))), "true");
    let name = PvField::ScalarArray(b"rec\0xx".iter().map(|b| ScalarValue::UByte(*b)).collect());
    assert_eq!(meta_text(&name).as_deref(), Some("rec"));
    assert_eq!(
        meta_text(&PvField::Scalar(ScalarValue::Int(2))).as_deref(),
        Some("2.0")
    );
}
