//! Turns fuzzer bytes into the arguments of ABI calls: sizes (small, zero or
//! absurd), floats (including NaN, ±inf, subnormals) and NULL-or-not pointers.

pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// A size: mostly small, sometimes zero or enormous.
    pub fn size(&mut self, small: usize) -> usize {
        match self.byte() {
            0 => 0,
            1 => usize::MAX / 3,
            2 => 1 << 40,
            b => b as usize % (small + 1),
        }
    }

    pub fn float(&mut self) -> f32 {
        let raw = u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()]);
        f32::from_bits(raw)
    }

    pub fn floats(&mut self, n: usize) -> Vec<f32> {
        (0..n.min(1 << 16))
            .map(|_| if self.byte() % 8 == 0 { self.float() } else { self.byte() as f32 / 255.0 })
            .collect()
    }

    pub fn flag(&mut self) -> bool {
        self.byte() % 2 == 1
    }
}
