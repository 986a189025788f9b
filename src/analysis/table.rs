//! A read-only map from words to small values, laid out for lookups.
//!
//! Every word of every message is looked up in the lexicon and the
//! person-word table. A std `HashMap<String, _>` costs a hash pass, then up
//! to three cache misses (control bytes, bucket, the key's heap bytes) and
//! a `memcmp` call per lookup. Here a short word is read once, as up to
//! three `u64`s, which give both its hash and its key; the
//! key and value sit together in one slot, so a lookup usually reads one
//! cache line and compares three integers. Linear probing over a table at
//! most half full keeps probe runs short.
//!
//! Most words of a message are in neither table, and the tables (the
//! person words with all their one-typo variants above all) are larger
//! than the CPU's nearer caches. So a small Bloom filter, kept from the
//! same hash, answers "not here" for most words from one cache line that
//! stays warm; only the rest probe the table.

use super::text::FastMap;

/// Words up to this many bytes are stored inline; longer ones (rare in
/// the lexicon, and never a person word) go to a side map.
const INLINE: usize = 24;

/// A short word as integers ([`Key::of`]) and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Key {
    words: [u64; INLINE / 8],
    len: u64,
}

impl Key {
    /// The key of `bytes`, when it is short enough to be inline.
    ///
    /// Reads a fixed number of (possibly overlapping) integers whatever
    /// the length, instead of a byte loop over the tail: for a given
    /// length every byte lands in some integer, so equal keys mean equal
    /// words.
    #[inline]
    fn of(b: &[u8]) -> Option<Key> {
        let n = b.len();
        let r8 = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"));
        let r4 = |i: usize| u64::from(u32::from_le_bytes(b[i..i + 4].try_into().expect("four")));
        let words = match n {
            0 => [0, 0, 0],
            1..=3 => [
                u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
                0,
                0,
            ],
            4..=8 => [r4(0) | r4(n - 4) << 32, 0, 0],
            9..=16 => [r8(0), r8(n - 8), 0],
            17..=INLINE => [r8(0), r8(8), r8(n - 8)],
            _ => return None,
        };
        Some(Key {
            words,
            len: n as u64,
        })
    }

    /// A hash of the key whose every bit depends on every input bit
    /// (multiply by odd constants, then murmur3's final mix): the slot
    /// comes from the low bits.
    #[inline]
    fn hash(&self) -> u64 {
        let [a, b, c] = self.words;
        let mut h = a.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f).rotate_left(21)
            ^ c.wrapping_mul(0x1656_67b1_9e37_79f9).rotate_left(42)
            ^ self.len;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot<V> {
    key: Key,
    /// False for an empty slot.
    full: bool,
    value: V,
}

impl<V: Default> Slot<V> {
    fn empty() -> Self {
        Slot {
            key: Key::default(),
            full: false,
            value: V::default(),
        }
    }
}

/// A word table; see the module documentation.
#[derive(Debug, Clone)]
pub struct WordTable<V> {
    slots: Vec<Slot<V>>,
    mask: usize,
    /// The inline words' hashes.
    bloom: Bloom,
    long: FastMap<Box<str>, V>,
    len: usize,
}

/// A Bloom filter over well-mixed 64-bit hashes: "certainly not among
/// them" from one or two reads of a small bit array, before a lookup in a
/// table too large to stay in the nearer caches.
#[derive(Debug, Clone)]
pub struct Bloom {
    bits: Vec<u64>,
    /// Bits in `bits`, minus one.
    mask: u64,
}

impl Bloom {
    /// Bits per item: with two bits per item, about 1.4 % of absent items
    /// still pass.
    const BITS_PER_ITEM: usize = 16;

    /// An empty filter for up to `items` items.
    pub fn new(items: usize) -> Self {
        let bits = (items * Self::BITS_PER_ITEM)
            .next_power_of_two()
            .clamp(512, 1 << 20);
        Self {
            bits: vec![0; bits / 64],
            mask: bits as u64 - 1,
        }
    }

    /// The two bits of a hash, from its high bits (slot indexes use the
    /// low ones; the filter has at most 2^20 bits, so 20 bits each do).
    #[inline]
    fn bits_of(&self, h: u64) -> [u64; 2] {
        [(h >> 44) & self.mask, (h >> 24) & self.mask]
    }

    /// Adds a hash.
    pub fn insert(&mut self, h: u64) {
        for b in self.bits_of(h) {
            self.bits[(b / 64) as usize] |= 1 << (b % 64);
        }
    }

    /// False when `h` was certainly never inserted.
    #[inline]
    pub fn may_contain(&self, h: u64) -> bool {
        self.bits_of(h)
            .iter()
            .all(|b| self.bits[(b / 64) as usize] & (1 << (b % 64)) != 0)
    }
}

impl<V: Copy + Default> WordTable<V> {
    /// Builds the table from words and their values; a repeated word keeps
    /// its last value.
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, V)>) -> Self {
        let entries: Vec<(&str, V)> = entries.into_iter().collect();
        let mut table = Self::with_capacity(entries.len());
        for (word, value) in entries {
            table.insert(word, value);
        }
        table
    }

    /// An empty table that holds `words` words before it grows (the size
    /// it would have grown to with them).
    pub fn with_capacity(words: usize) -> Self {
        let size = (words * 2).next_power_of_two().max(16);
        Self {
            slots: vec![Slot::empty(); size],
            mask: size - 1,
            bloom: Bloom::new(size / 2),
            long: FastMap::default(),
            len: 0,
        }
    }

    /// Adds a word, or replaces its value.
    pub fn insert(&mut self, word: &str, value: V) {
        self.update(word, |_| value);
    }

    /// Sets the value of `word` to `f` of its value (`None` when it is not
    /// in the table yet): one lookup where [`Self::get`] then
    /// [`Self::insert`] would hash and probe twice.
    pub fn update(&mut self, word: &str, f: impl FnOnce(Option<V>) -> V) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let Some(key) = Key::of(word.as_bytes()) else {
            match self.long.get_mut(word) {
                Some(value) => *value = f(Some(*value)),
                None => {
                    self.long.insert(word.into(), f(None));
                    self.len += 1;
                }
            }
            return;
        };
        let h = key.hash();
        self.bloom.insert(h);
        let mut i = h as usize & self.mask;
        loop {
            let slot = &mut self.slots[i];
            if !slot.full {
                self.len += 1;
                *slot = Slot {
                    key,
                    full: true,
                    value: f(None),
                };
                return;
            }
            if slot.key == key {
                slot.value = f(Some(slot.value));
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// A Bloom filter sized for the slots (half of which may fill), with
    /// the bits of every inline word already in the table.
    fn size_bloom(&mut self) {
        self.bloom = Bloom::new(self.slots.len() / 2);
        for slot in self.slots.iter().filter(|s| s.full) {
            self.bloom.insert(slot.key.hash());
        }
    }

    /// Doubles the slots, keeping the table at most half full.
    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![Slot::empty(); size]);
        self.mask = size - 1;
        for slot in old.into_iter().filter(|s| s.full) {
            let mut i = slot.key.hash() as usize & self.mask;
            while self.slots[i].full {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = slot;
        }
        self.size_bloom();
    }

    /// The value of `word`, if it is in the table.
    #[inline]
    pub fn get(&self, word: &str) -> Option<&V> {
        let Some(key) = Key::of(word.as_bytes()) else {
            return self.long.get(word);
        };
        let h = key.hash();
        if !self.bloom.may_contain(h) {
            return None;
        }
        let mut i = h as usize & self.mask;
        loop {
            let slot = &self.slots[i];
            if !slot.full {
                return None;
            }
            if slot.key == key {
                return Some(&slot.value);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// How many words it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it holds no word.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_words_it_holds() {
        let long = "a-word-longer-than-the-inline-key";
        let words: Vec<String> = (0..5000).map(|i| format!("w{i}")).collect();
        let table = WordTable::new(
            words
                .iter()
                .enumerate()
                .map(|(i, w)| (w.as_str(), i))
                .chain([("", 7), (long, 9), ("exactly-24-bytes-long-ok", 11)]),
        );
        assert_eq!(table.len(), 5003);
        for (i, w) in words.iter().enumerate() {
            assert_eq!(table.get(w), Some(&i), "{w}");
        }
        assert_eq!(table.get(""), Some(&7));
        assert_eq!(table.get(long), Some(&9));
        assert_eq!(table.get("exactly-24-bytes-long-ok"), Some(&11));
        for missing in [
            "w5000",
            "w",
            "x1",
            "w1\0",
            "a-word-longer-than-the-inline-kez",
            "exactly-24-bytes-long-ok!",
        ] {
            assert_eq!(table.get(missing), None, "{missing:?}");
        }
    }

    #[test]
    fn the_bloom_filter_never_forgets_and_mostly_refuses() {
        let mix = |i: u64| {
            let mut h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            h ^= h >> 33;
            h.wrapping_mul(0xff51_afd7_ed55_8ccd)
        };
        let mut bloom = Bloom::new(10_000);
        (0..10_000).for_each(|i| bloom.insert(mix(i)));
        assert!((0..10_000).all(|i| bloom.may_contain(mix(i))));
        let passed = (10_000..110_000)
            .filter(|&i| bloom.may_contain(mix(i)))
            .count();
        // About 1.4 % in theory; a tenth of absent items would defeat it.
        assert!(passed < 10_000, "{passed} of 100,000 absent items passed");
    }

    #[test]
    fn grows_as_words_are_added() {
        let mut table = WordTable::new([("seed", 0)]);
        for i in 1..3000 {
            table.insert(&format!("grown{i}"), i);
        }
        assert_eq!(table.len(), 3000);
        assert_eq!(table.get("seed"), Some(&0));
        assert!((1..3000).all(|i| table.get(&format!("grown{i}")) == Some(&i)));
    }

    #[test]
    fn update_sees_the_value_so_far() {
        let long = "a-word-longer-than-the-inline-key";
        let mut table = WordTable::new([("seen", 1)]);
        for word in ["seen", "new", long, long] {
            table.update(word, |old| old.map_or(10, |v| v + 1));
        }
        assert_eq!(table.get("seen"), Some(&2));
        assert_eq!(table.get("new"), Some(&10));
        assert_eq!(table.get(long), Some(&11));
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn a_repeated_word_keeps_the_last_value() {
        let table = WordTable::new([("good", 1), ("bad", 2), ("good", 3)]);
        assert_eq!(table.get("good"), Some(&3));
        assert_eq!(table.len(), 2);
    }
}
