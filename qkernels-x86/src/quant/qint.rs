//! The 8-bit quantized storage types: `u8` (quint8) and `i8` (qint8).

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for i8 {}
}

/// An 8-bit quantized integer: `u8` is PyTorch's `quint8`, `i8` is `qint8`.
pub trait QInt:
    Copy + Ord + Default + Send + Sync + std::fmt::Debug + 'static + sealed::Sealed
{
    /// Smallest representable value.
    const QMIN: i32;
    /// Largest representable value.
    const QMAX: i32;
    /// PyTorch's dtype name.
    const NAME: &'static str;

    /// Widens to `i32`.
    fn to_i32(self) -> i32;
    /// Narrows with saturation to `[QMIN, QMAX]`.
    fn from_i32_sat(v: i32) -> Self;
    /// The slice as `u8` when `Self` is `u8` (the type with SIMD paths).
    fn as_u8(s: &[Self]) -> Option<&[u8]>;
    /// The mutable slice as `u8` when `Self` is `u8`.
    fn as_u8_mut(s: &mut [Self]) -> Option<&mut [u8]>;
}

impl QInt for u8 {
    const QMIN: i32 = 0;
    const QMAX: i32 = 255;
    const NAME: &'static str = "quint8";

    #[inline(always)]
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn from_i32_sat(v: i32) -> Self {
        v.clamp(0, 255) as u8
    }
    fn as_u8(s: &[Self]) -> Option<&[u8]> {
        Some(s)
    }
    fn as_u8_mut(s: &mut [Self]) -> Option<&mut [u8]> {
        Some(s)
    }
}

impl QInt for i8 {
    const QMIN: i32 = -128;
    const QMAX: i32 = 127;
    const NAME: &'static str = "qint8";

    #[inline(always)]
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn from_i32_sat(v: i32) -> Self {
        v.clamp(-128, 127) as i8
    }
    fn as_u8(_: &[Self]) -> Option<&[u8]> {
        None
    }
    fn as_u8_mut(_: &mut [Self]) -> Option<&mut [u8]> {
        None
    }
}
