//! Handles: 64-bit numbers that name objects in one process-wide table.
//!
//! A handle is `kind << 56 | generation << 24 | (slot + 1)`: an 8-bit kind, a 32-bit
//! generation and a 24-bit slot number. Freeing a slot bumps its generation, and a slot whose
//! generation is used up is retired instead of wrapping, so a freed handle (use after free,
//! double free) never matches again, and a handle of another kind is told apart from the
//! right one. Freed slots are reused oldest first, so one slot is not cycled while others
//! rest. 0 is never a handle. Objects are shared (`Arc`): a call that is using an object keeps
//! it alive even if another thread frees its handle meanwhile.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::status::{syncshell_status as S, Failure, Outcome};

/// A handle of any kind, as `syncshell_list_get` returns them: wrap it in the struct of the
/// kind the list holds (`(syncshell_entry){ h }`). Every other function takes and gives a
/// struct of its own kind (`syncshell_identity`, `syncshell_genesis`, ...), so C catches a
/// handle of the wrong kind at compile time.
#[allow(non_camel_case_types)]
pub type syncshell_handle = u64;

/// A handle type of the C ABI: one `#[repr(C)]` struct around the 64-bit value per kind.
pub(crate) trait Raw: Copy {
    /// The handle's value.
    fn raw(self) -> u64;
    /// The handle of this type with value `raw`.
    fn from_raw(raw: u64) -> Self;
}

impl Raw for u64 {
    fn raw(self) -> u64 {
        self
    }

    fn from_raw(raw: u64) -> Self {
        raw
    }
}

/// Implements [`Raw`] for handle structs (`struct { pub h: u64 }`). The structs themselves are
/// written out: the header generator does not expand macros.
macro_rules! raw_handles {
    ($($ty:ident),* $(,)?) => {
        $(impl $crate::handle::Raw for $ty {
            fn raw(self) -> u64 {
                self.h
            }

            fn from_raw(raw: u64) -> Self {
                $ty { h: raw }
            }
        })*
    };
}
pub(crate) use raw_handles;

/// Slots, and so live handles, are capped so a leaking host gets an error instead of
/// exhausting memory; slot numbers `1..=MAX_SLOTS` fit the handle's 24 bits.
const MAX_SLOTS: usize = (1 << 24) - 1;
/// Where the generation sits in a handle.
const GENERATION_SHIFT: u32 = 24;
/// The slot number's bits.
const SLOT_MASK: u64 = (1 << GENERATION_SHIFT) - 1;

/// A kind of object that handles name.
pub(crate) trait Object: Any + Send + Sync {
    /// Distinct per kind, 1..=255.
    const KIND: Kind;
}

/// The kinds of handle, for the kind byte and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Bytes = 1,
    List,
    Identity,
    Genesis,
    Chain,
    Invite,
    Ledger,
    Revocations,
    Phonebook,
    Entry,
    ReplayGuard,
    Handshake,
    Runtime,
    WebRtcConfig,
    MemNetwork,
    Transport,
    Connection,
    Transfer,
    MemberOptions,
    Member,
    Event,
}

impl Kind {
    /// The kind's name after "a" or "an".
    pub(crate) fn with_article(self) -> String {
        let name = self.name();
        let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {name}")
    }

    fn name(self) -> &'static str {
        use Kind::*;
        match self {
            Bytes => "bytes",
            List => "list",
            Identity => "identity",
            Genesis => "genesis",
            Chain => "token chain",
            Invite => "invite",
            Ledger => "invite ledger",
            Revocations => "revocation set",
            Phonebook => "phonebook",
            Entry => "phonebook entry",
            ReplayGuard => "replay guard",
            Handshake => "handshake",
            Runtime => "runtime",
            WebRtcConfig => "WebRTC config",
            MemNetwork => "in-memory network",
            Transport => "transport",
            Connection => "connection",
            Transfer => "transfer",
            MemberOptions => "member options",
            Member => "member",
            Event => "member event",
        }
    }
}

/// A shared object with its kind, as lists hold them.
pub(crate) type AnyObject = (Kind, Arc<dyn Any + Send + Sync>);

#[derive(Default)]
struct Slot {
    generation: u32,
    object: Option<AnyObject>,
}

/// The handle table: slots, and the free ones in the order they were freed.
struct Table {
    slots: Vec<Slot>,
    free: VecDeque<u32>,
    live: usize,
}

static TABLE: Mutex<Table> = Mutex::new(Table::new());

fn table() -> MutexGuard<'static, Table> {
    // Nothing panics while the table is locked; a poisoned lock still holds a whole table.
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn split(handle: syncshell_handle) -> Outcome<(u8, u32, usize)> {
    let kind = (handle >> 56) as u8;
    let generation = (handle >> GENERATION_SHIFT) as u32;
    let slot = (handle & SLOT_MASK) as usize;
    if slot == 0 {
        return Err(Failure::new(
            S::SYNCSHELL_ERR_NULL_ARGUMENT,
            "a handle argument is 0 (no object)",
        ));
    }
    Ok((kind, generation, slot - 1))
}

fn stale(handle: syncshell_handle) -> Failure {
    Failure::new(
        S::SYNCSHELL_ERR_INVALID_HANDLE,
        format!("handle {handle:#018x} was freed or never issued"),
    )
}

fn wrong_kind(handle: syncshell_handle, kind: Kind, wanted: Kind) -> Failure {
    Failure::new(
        S::SYNCSHELL_ERR_WRONG_HANDLE_KIND,
        format!(
            "handle {handle:#018x} holds {}, this function takes {}",
            kind.with_article(),
            wanted.with_article()
        ),
    )
}

impl Table {
    const fn new() -> Self {
        Table {
            slots: Vec::new(),
            free: VecDeque::new(),
            live: 0,
        }
    }

    fn insert(&mut self, (kind, object): AnyObject) -> Outcome<syncshell_handle> {
        let index = match self.free.pop_front() {
            Some(index) => index as usize,
            None if self.slots.len() < MAX_SLOTS => {
                self.slots.push(Slot {
                    generation: 1,
                    object: None,
                });
                self.slots.len() - 1
            }
            None => {
                return Err(Failure::new(
                    S::SYNCSHELL_ERR_LIMIT,
                    "too many live handles (16 Mi): free the ones you no longer use",
                ))
            }
        };
        let slot = self
            .slots
            .get_mut(index)
            .ok_or_else(|| Failure::new(S::SYNCSHELL_ERR_LIMIT, "handle table is inconsistent"))?;
        slot.object = Some((kind, object));
        let generation = slot.generation;
        self.live += 1;
        Ok((kind as u64) << 56 | u64::from(generation) << GENERATION_SHIFT | (index as u64 + 1))
    }

    fn get(&self, handle: syncshell_handle) -> Outcome<AnyObject> {
        let (kind_byte, generation, index) = split(handle)?;
        match self.slots.get(index) {
            Some(Slot {
                generation: g,
                object: Some((kind, object)),
            }) if *g == generation && *kind as u8 == kind_byte => Ok((*kind, Arc::clone(object))),
            _ => Err(stale(handle)),
        }
    }

    /// Takes the object out of a live handle of kind `wanted` and frees its slot.
    fn remove(&mut self, handle: syncshell_handle, wanted: Kind) -> Outcome<AnyObject> {
        let (kind_byte, generation, index) = split(handle)?;
        let Some(slot) = self.slots.get_mut(index) else {
            return Err(stale(handle));
        };
        match &slot.object {
            Some((kind, _)) if slot.generation == generation && *kind as u8 == kind_byte => {
                if *kind != wanted {
                    return Err(wrong_kind(handle, *kind, wanted));
                }
            }
            _ => return Err(stale(handle)),
        }
        let removed = slot.object.take().ok_or_else(|| stale(handle))?;
        self.live -= 1;
        // A slot whose generations are used up is never handed out again: reusing it would
        // bring a handle freed long ago back to life.
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            self.free.push_back(index as u32);
        }
        Ok(removed)
    }
}

/// Registers a shared object and returns its new handle.
pub(crate) fn insert_any(object: AnyObject) -> Outcome<syncshell_handle> {
    table().insert(object)
}

/// Registers `object` and returns its new handle.
pub(crate) fn insert<H: Raw, T: Object>(object: T) -> Outcome<H> {
    insert_any((T::KIND, Arc::new(object))).map(H::from_raw)
}

/// The object behind a live handle, whatever its kind.
pub(crate) fn get_any(handle: impl Raw) -> Outcome<AnyObject> {
    table().get(handle.raw())
}

fn typed<T: Object>(handle: syncshell_handle, (kind, object): AnyObject) -> Outcome<Arc<T>> {
    if kind != T::KIND {
        return Err(wrong_kind(handle, kind, T::KIND));
    }
    object.downcast::<T>().map_err(|_| {
        Failure::new(
            S::SYNCSHELL_ERR_WRONG_HANDLE_KIND,
            format!(
                "handle {handle:#018x} does not hold {}",
                T::KIND.with_article()
            ),
        )
    })
}

/// The object behind a live handle of kind `T`.
pub(crate) fn get<T: Object>(handle: impl Raw) -> Outcome<Arc<T>> {
    typed(handle.raw(), get_any(handle)?)
}

/// Frees a handle of kind `T`; 0 is accepted and does nothing. The object is dropped here,
/// outside the table's lock, unless a call in flight still uses it.
pub(crate) fn remove<T: Object>(handle: impl Raw) -> Outcome {
    let handle = handle.raw();
    if handle == 0 {
        return Ok(());
    }
    let removed = table().remove(handle, T::KIND)?;
    drop(removed);
    Ok(())
}

/// Takes every live object out of the table: all handles become invalid.
pub(crate) fn drain() -> Vec<AnyObject> {
    let mut table = table();
    let mut objects = Vec::new();
    for (index, slot) in table.slots.iter_mut().enumerate() {
        if let Some(object) = slot.object.take() {
            objects.push((index, object));
        }
    }
    table.live -= objects.len();
    let mut out = Vec::with_capacity(objects.len());
    for (index, object) in objects {
        if let Some(slot) = table.slots.get_mut(index) {
            if let Some(next) = slot.generation.checked_add(1) {
                slot.generation = next;
                table.free.push_back(index as u32);
            }
        }
        out.push(object);
    }
    out
}

/// The number of live handles.
pub(crate) fn live() -> usize {
    table().live
}

/// Locks an object's state, refusing one a panic left half-changed.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> Outcome<MutexGuard<'_, T>> {
    mutex.lock().map_err(|_| {
        Failure::new(
            S::SYNCSHELL_ERR_POISONED,
            "an earlier panic left this object inconsistent; free it",
        )
    })
}

/// Makes a type an [`Object`] of the given [`Kind`]. (The `_free` exports are written out by
/// hand: the header generator does not expand macros.)
macro_rules! object {
    ($ty:ty, $kind:ident) => {
        impl $crate::handle::Object for $ty {
            const KIND: $crate::handle::Kind = $crate::handle::Kind::$kind;
        }
    };
}
pub(crate) use object;

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> AnyObject {
        (Kind::Bytes, Arc::new(()))
    }

    #[test]
    fn a_stale_handle_never_becomes_valid_again() {
        let mut table = Table::new();
        let first = table.insert(object()).unwrap();
        table.remove(first, Kind::Bytes).unwrap();
        assert!(table.get(first).is_err());
        // As if the slot had been used and freed 2^32 - 3 times since: its generations are
        // about to run out. Cycle it (and whatever slot comes next) well past that point.
        let index = (first & SLOT_MASK) as usize - 1;
        table.slots[index].generation = u32::MAX - 2;
        let mut issued = vec![first];
        for _ in 0..8 {
            let handle = table.insert(object()).unwrap();
            assert!(
                !issued.contains(&handle),
                "handle {handle:#018x} was issued before"
            );
            for old in &issued {
                assert!(table.get(*old).is_err(), "freed {old:#018x} is live again");
                assert!(table.remove(*old, Kind::Bytes).is_err());
            }
            assert!(table.get(handle).is_ok());
            table.remove(handle, Kind::Bytes).unwrap();
            issued.push(handle);
        }
        assert_eq!(table.live, 0);
        // The used-up slot is retired, not reused.
        assert!(table.slots[index].object.is_none());
        assert!(!table.free.contains(&(index as u32)));
    }

    #[test]
    fn freed_slots_are_reused_oldest_first() {
        let mut table = Table::new();
        let handles: Vec<_> = (0..3).map(|_| table.insert(object()).unwrap()).collect();
        for h in &handles {
            table.remove(*h, Kind::Bytes).unwrap();
        }
        let slot = |h: syncshell_handle| h & SLOT_MASK;
        let again = table.insert(object()).unwrap();
        assert_eq!(slot(again), slot(handles[0]));
        assert_ne!(again, handles[0]);
    }

    #[test]
    fn the_largest_generation_stays_out_of_the_kind_and_the_slot() {
        let mut table = Table::new();
        let h = table.insert((Kind::Transfer, Arc::new(()))).unwrap();
        assert_eq!((h >> 56) as u8, Kind::Transfer as u8);
        assert_eq!((h >> GENERATION_SHIFT) as u32, 1);
        assert_eq!(h & SLOT_MASK, 1);
        table.remove(h, Kind::Transfer).unwrap();
        table.slots[0].generation = u32::MAX;
        let top = table.insert((Kind::Transfer, Arc::new(()))).unwrap();
        assert_eq!((top >> 56) as u8, Kind::Transfer as u8);
        assert_eq!((top >> GENERATION_SHIFT) as u32, u32::MAX);
        assert_eq!(top & SLOT_MASK, 1);
        assert_eq!(table.get(top).unwrap().0, Kind::Transfer);
    }
}
