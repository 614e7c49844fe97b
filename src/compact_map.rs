//! A compact map from strings to values, for the 300,000 paths of a large manifest: the keys
//! live in one string, a hash index holds positions, and insertion order is kept. A
//! `HashMap<String, V>` spends an allocation and about 80 bytes of overhead per key on top.

use std::hash::BuildHasher;

/// Keys are paths and domain names from the user's own files, not from an adversary: a fast
/// hash beats SipHash's flooding resistance here (it was 40% of reading a large manifest).
type Hasher = foldhash::fast::RandomState;

/// Strings to values, in insertion order; inserting a key again replaces its value.
#[derive(Debug, Default)]
pub struct Table<V> {
    text: String,
    /// Where each key starts in `text`; it ends where the next one starts.
    entries: Vec<(usize, V)>,
    index: hashbrown::HashTable<usize>,
    hasher: Hasher,
}

impl<V> Table<V> {
    /// An empty table with room for `n` entries.
    pub fn with_capacity(n: usize) -> Table<V> {
        Table {
            text: String::new(),
            entries: Vec::with_capacity(n),
            index: hashbrown::HashTable::with_capacity(n),
            hasher: Hasher::default(),
        }
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn key(&self, at: usize) -> &str {
        key_at(&self.text, &self.entries, at)
    }

    fn find(&self, key: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        self.index.find(hash, |&i| self.key(i) == key).copied()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.find(key).map(|i| &self.entries[i].1)
    }

    /// The value of `key`, looked for first at `*near`, then by hash; `*near` then moves to the
    /// entry after it. A caller that asks for keys in about the table's order finds each one
    /// where the last one ended, in memory it has just read, instead of at a random place.
    pub fn get_near(&self, key: &str, near: &mut usize) -> Option<&V> {
        let at = match self.entries.get(*near) {
            Some(_) if self.key(*near) == key => *near,
            _ => self.find(key)?,
        };
        *near = at + 1;
        Some(&self.entries[at].1)
    }

    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: &str, value: V) {
        let hash = self.hasher.hash_one(key);
        let Table {
            text,
            entries,
            index,
            hasher,
        } = self;
        match index.entry(
            hash,
            |&i| key_at(text, entries, i) == key,
            rehash(text, entries, hasher),
        ) {
            hashbrown::hash_table::Entry::Occupied(e) => entries[*e.get()].1 = value,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(entries.len());
                entries.push((text.len(), value));
                text.push_str(key);
            }
        }
    }

    /// Every key and value, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        (0..self.entries.len()).map(|i| (self.key(i), &self.entries[i].1))
    }

    /// Every key, in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(k, _)| k)
    }
}

/// A table filled with keys in strictly ascending order, as a manifest lists them, and indexed
/// once when it is done: a growing index rehashes every key it holds each time it doubles, and
/// ordered keys need no lookup to be known distinct.
#[derive(Debug, Default)]
pub(crate) struct Sorted<V> {
    text: String,
    entries: Vec<(usize, V)>,
}

impl<V> Sorted<V> {
    /// Appends `key` with `value`; `None` unless `key` sorts after every key before it.
    pub(crate) fn push(&mut self, key: &str, value: V) -> Option<()> {
        let last = self.entries.last().map(|e| &self.text[e.0..]);
        last.is_none_or(|last| last < key).then_some(())?;
        self.entries.push((self.text.len(), value));
        self.text.push_str(key);
        Some(())
    }

    /// The table of everything pushed.
    pub(crate) fn finish(self) -> Table<V> {
        let Sorted {
            mut text,
            mut entries,
        } = self;
        text.shrink_to_fit();
        entries.shrink_to_fit();
        let hasher = Hasher::default();
        let mut index = hashbrown::HashTable::with_capacity(entries.len());
        for at in 0..entries.len() {
            let hash = hasher.hash_one(key_at(&text, &entries, at));
            index.insert_unique(hash, at, rehash(&text, &entries, &hasher));
        }
        Table {
            text,
            entries,
            index,
            hasher,
        }
    }
}

/// The hash of the key at an index position, for the index when it grows or shrinks.
fn rehash<'t, V>(
    text: &'t str,
    entries: &'t [(usize, V)],
    hasher: &'t Hasher,
) -> impl Fn(&usize) -> u64 + 't {
    move |&i| hasher.hash_one(key_at(text, entries, i))
}

fn key_at<'t, V>(text: &'t str, entries: &[(usize, V)], at: usize) -> &'t str {
    let end = entries.get(at + 1).map_or(text.len(), |e| e.0);
    &text[entries[at].0..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_map_that_keeps_insertion_order() {
        let mut t = Table::with_capacity(1);
        for (i, k) in ["b", "a", "", "ab", "a/b/c"].into_iter().enumerate() {
            t.insert(k, i);
        }
        t.insert("a", 9);
        assert_eq!(t.len(), 5);
        assert_eq!(t.get("a"), Some(&9));
        assert_eq!(t.get(""), Some(&2));
        assert_eq!(t.get("a/b/c"), Some(&4));
        assert_eq!(t.get("c"), None);
        assert_eq!(t.keys().collect::<Vec<_>>(), ["b", "a", "", "ab", "a/b/c"]);
        let many: Table<usize> = {
            let mut m = Table::default();
            for i in 0..10_000 {
                m.insert(&format!("dns/d{i}.example.zone"), i);
            }
            m
        };
        assert!((0..10_000).all(|i| many.get(&format!("dns/d{i}.example.zone")) == Some(&i)));
        let mut near = 0;
        assert!((0..10_000).all(|i| {
            let found = many.get_near(&format!("dns/d{i}.example.zone"), &mut near);
            found == Some(&i) && near == i + 1
        }));
        near = 5;
        assert_eq!(many.get_near("dns/d2.example.zone", &mut near), Some(&2));
        assert_eq!(near, 3, "a miss at the cursor is found by hash");
        assert_eq!(many.get_near("none", &mut near), None);
        assert_eq!(near, 3);
    }

    #[test]
    fn sorted_takes_ascending_keys_only_and_finds_each() {
        let mut sorted = Sorted::default();
        let keys: Vec<String> = (0..5000).map(|i| format!("dns/d{i:05}.zone")).collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(sorted.push(k, i), Some(()));
        }
        assert_eq!(sorted.push(&keys[4999], 0), None, "a repeat");
        assert_eq!(sorted.push("dns/a.zone", 0), None, "out of order");
        let table = sorted.finish();
        assert_eq!(table.len(), 5000);
        assert!(
            keys.iter()
                .enumerate()
                .all(|(i, k)| table.get(k) == Some(&i))
        );
        assert_eq!(table.get("dns/a.zone"), None);
        assert!(table.keys().eq(keys.iter().map(String::as_str)));
        let mut empty = Sorted::<u8>::default();
        assert_eq!(empty.push("", 1), Some(()));
        assert_eq!(empty.finish().get(""), Some(&1));
    }
}
