// Prost code for EPICSEvent.proto (package EPICS), in the form prost-build 0.14 emits.
// Kept in the repository so that building never needs protoc.

/// A name/value pair: per-sample extra field or header field.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct FieldValue {
    #[prost(string, required, tag = "1")]
    pub name: ::prost::alloc::string::String,
    #[prost(string, required, tag = "2")]
    pub val: ::prost::alloc::string::String,
}

/// Sample message `ScalarString`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ScalarString {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(string, required, tag = "3")]
    pub val: ::prost::alloc::string::String,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `ScalarByte`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ScalarByte {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(bytes, required, tag = "3")]
    pub val: ::prost::alloc::vec::Vec<u8>,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `ScalarShort`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ScalarShort {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(sint32, required, tag = "3")]
    pub val: i32,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `ScalarInt`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ScalarInt {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(sfixed32, required, tag = "3")]
    pub val: i32,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `ScalarEnum`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ScalarEnum {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(sint32, required, tag = "3")]
    pub val: i32,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `ScalarFloat`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ScalarFloat {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(float, required, tag = "3")]
    pub val: f32,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `ScalarDouble`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ScalarDouble {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(double, required, tag = "3")]
    pub val: f64,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `VectorString`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct VectorString {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(string, repeated, tag = "3")]
    pub val: ::prost::alloc::vec::Vec<::prost::alloc::string::String>,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `VectorChar`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct VectorChar {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(bytes, required, tag = "3")]
    pub val: ::prost::alloc::vec::Vec<u8>,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `VectorShort`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct VectorShort {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(sint32, repeated, packed = "true", tag = "3")]
    pub val: ::prost::alloc::vec::Vec<i32>,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `VectorInt`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct VectorInt {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(sfixed32, repeated, packed = "true", tag = "3")]
    pub val: ::prost::alloc::vec::Vec<i32>,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `VectorEnum`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct VectorEnum {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(sint32, repeated, packed = "true", tag = "3")]
    pub val: ::prost::alloc::vec::Vec<i32>,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `VectorFloat`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct VectorFloat {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(float, repeated, packed = "true", tag = "3")]
    pub val: ::prost::alloc::vec::Vec<f32>,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `VectorDouble`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct VectorDouble {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(double, repeated, packed = "true", tag = "3")]
    pub val: ::prost::alloc::vec::Vec<f64>,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
}

/// Sample message `V4GenericBytes`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct V4GenericBytes {
    #[prost(uint32, required, tag = "1")]
    pub secondsintoyear: u32,
    #[prost(uint32, required, tag = "2")]
    pub nano: u32,
    #[prost(bytes, required, tag = "3")]
    pub val: ::prost::alloc::vec::Vec<u8>,
    #[prost(int32, optional, tag = "4", default = "0")]
    pub severity: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "5", default = "0")]
    pub status: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "6")]
    pub repeatcount: ::core::option::Option<u32>,
    #[prost(message, repeated, tag = "7")]
    pub fieldvalues: ::prost::alloc::vec::Vec<FieldValue>,
    #[prost(bool, optional, tag = "8")]
    pub fieldactualchange: ::core::option::Option<bool>,
    #[prost(uint32, optional, tag = "9")]
    pub user_tag: ::core::option::Option<u32>,
}

/// Header line of a PlainPB file or PB/HTTP chunk.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PayloadInfo {
    #[prost(enumeration = "PayloadType", required, tag = "1")]
    pub r#type: i32,
    #[prost(string, required, tag = "2")]
    pub pvname: ::prost::alloc::string::String,
    #[prost(int32, required, tag = "3")]
    pub year: i32,
    #[prost(int32, optional, tag = "4")]
    pub element_count: ::core::option::Option<i32>,
    #[prost(double, optional, tag = "5")]
    pub unused00: ::core::option::Option<f64>,
    #[prost(double, optional, tag = "6")]
    pub unused01: ::core::option::Option<f64>,
    #[prost(double, optional, tag = "7")]
    pub unused02: ::core::option::Option<f64>,
    #[prost(double, optional, tag = "8")]
    pub unused03: ::core::option::Option<f64>,
    #[prost(double, optional, tag = "9")]
    pub unused04: ::core::option::Option<f64>,
    #[prost(double, optional, tag = "10")]
    pub unused05: ::core::option::Option<f64>,
    #[prost(double, optional, tag = "11")]
    pub unused06: ::core::option::Option<f64>,
    #[prost(double, optional, tag = "12")]
    pub unused07: ::core::option::Option<f64>,
    #[prost(double, optional, tag = "13")]
    pub unused08: ::core::option::Option<f64>,
    #[prost(string, optional, tag = "14")]
    pub unused09: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(message, repeated, tag = "15")]
    pub headers: ::prost::alloc::vec::Vec<FieldValue>,
}

/// `PayloadType`: numbering equals `ArchDBRTypes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum PayloadType {
    ScalarString = 0,
    ScalarShort = 1,
    ScalarFloat = 2,
    ScalarEnum = 3,
    ScalarByte = 4,
    ScalarInt = 5,
    ScalarDouble = 6,
    WaveformString = 7,
    WaveformShort = 8,
    WaveformFloat = 9,
    WaveformEnum = 10,
    WaveformByte = 11,
    WaveformInt = 12,
    WaveformDouble = 13,
    V4GenericBytes = 14,
}
