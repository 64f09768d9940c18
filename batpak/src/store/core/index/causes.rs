//! Causation links: each cause's position → the positions of the events it
//! caused, ascending. Most causes have one consequence (a reactor's reply,
//! a machine's step), so one is held in the map's slot and only a second
//! takes an allocation: a link costs its slot, not a slot and a `Vec`.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::hasher::IdHasher;

/// What one cause caused.
enum Caused {
    One(u64),
    Many(Vec<u64>),
}

/// Cause position → caused positions.
#[derive(Default)]
pub(crate) struct Causes {
    map: HashMap<u64, Caused, BuildHasherDefault<IdHasher>>,
}

impl Causes {
    /// Links `position` to `cause`; positions come in ascending order.
    pub(crate) fn add(&mut self, cause: u64, position: u64) {
        match self.map.get_mut(&cause) {
            None => {
                self.map.insert(cause, Caused::One(position));
            }
            Some(caused) => match caused {
                Caused::One(first) => *caused = Caused::Many(vec![*first, position]),
                Caused::Many(all) => all.push(position),
            },
        }
    }

    /// Records everything `cause` caused at once (a checkpoint's list); false,
    /// and nothing changes, when `cause` already has links or `caused` is
    /// empty.
    pub(crate) fn set(&mut self, cause: u64, mut caused: Vec<u64>) -> bool {
        if caused.is_empty() || self.map.contains_key(&cause) {
            return false;
        }
        let links = match caused.as_slice() {
            [one] => Caused::One(*one),
            _ => {
                caused.shrink_to_fit();
                Caused::Many(caused)
            }
        };
        self.map.insert(cause, links);
        true
    }

    /// The positions `cause` caused, ascending.
    pub(crate) fn of(&self, cause: u64) -> &[u64] {
        match self.map.get(&cause) {
            None => &[],
            Some(Caused::One(p)) => std::slice::from_ref(p),
            Some(Caused::Many(all)) => all,
        }
    }

    /// Every cause with what it caused, in no order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &[u64])> {
        self.map.iter().map(|(&cause, caused)| {
            let caused: &[u64] = match caused {
                Caused::One(p) => std::slice::from_ref(p),
                Caused::Many(all) => all,
            };
            (cause, caused)
        })
    }

    /// Bytes held: the map's slots at capacity, and each longer list.
    pub(crate) fn heap_bytes(&self) -> usize {
        let lists: usize = self
            .map
            .values()
            .map(|c| match c {
                Caused::One(_) => 0,
                Caused::Many(all) => all.capacity() * 8,
            })
            .sum();
        self.map.capacity() * (std::mem::size_of::<(u64, Caused)>() + 1) + lists
    }
}

#[cfg(test)]
mod tests {
    use super::Causes;

    #[test]
    fn links_come_back_in_order_one_or_many() {
        let mut causes = Causes::default();
        causes.add(3, 4);
        causes.add(1, 5);
        causes.add(1, 9);
        causes.add(1, 12);
        assert_eq!(causes.of(3), &[4]);
        assert_eq!(causes.of(1), &[5, 9, 12]);
        assert!(causes.of(2).is_empty());
        let mut all: Vec<(u64, Vec<u64>)> = causes.iter().map(|(c, p)| (c, p.to_vec())).collect();
        all.sort();
        assert_eq!(all, vec![(1, vec![5, 9, 12]), (3, vec![4])]);
        assert!(!causes.set(1, vec![20]), "a cause is set once");
        assert!(!causes.set(7, Vec::new()), "an empty list is no link");
        assert!(causes.set(7, vec![8]));
        assert_eq!(causes.of(7), &[8]);
    }
}
