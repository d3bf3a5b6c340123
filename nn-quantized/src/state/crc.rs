//! CRC-32 (IEEE 802.3, the zlib / PNG polynomial), to detect damaged tensor data.

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

/// A running CRC-32.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Crc32(u32);

impl Crc32 {
    /// The checksum of nothing yet.
    pub(crate) fn new() -> Crc32 {
        Crc32(0xFFFF_FFFF)
    }

    /// Feeds `bytes`.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        let mut c = self.0;
        for &b in bytes {
            c = TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    /// The checksum of everything fed.
    pub(crate) fn finish(self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

#[cfg(test)]
mod tests {
    use super::Crc32;

    /// Bit-by-bit definition of the same CRC, to check the table-driven one against.
    fn reference(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in bytes {
            c ^= u32::from(b);
            for _ in 0..8 {
                let mask = (c & 1).wrapping_neg();
                c = (c >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
        !c
    }

    #[test]
    fn table_driven_equals_bitwise_definition_and_detects_any_one_byte_change() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
        for len in [0, 1, 7, 64, 300] {
            let mut c = Crc32::new();
            c.update(&data[..len / 2]);
            c.update(&data[len / 2..len]);
            assert_eq!(c.finish(), reference(&data[..len]), "len {len}");
        }
        let mut whole = Crc32::new();
        whole.update(&data);
        let base = whole.finish();
        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 0x10;
            let mut c = Crc32::new();
            c.update(&d);
            assert_ne!(c.finish(), base, "change at {i} undetected");
        }
    }
}
