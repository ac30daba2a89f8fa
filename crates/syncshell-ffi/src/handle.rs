//! Handles: 64-bit numbers that name objects in one process-wide table.
//!
//! A handle is `kind << 56 | generation << 32 | (slot + 1)`. Freeing a slot bumps its
//! generation, so a freed handle (use after free, double free) never matches again until the
//! 24-bit generation wraps, and a handle of another kind is told apart from the right one.
//! 0 is never a handle. Objects are shared (`Arc`): a call that is using an object keeps it
//! alive even if another thread frees its handle meanwhile.

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::status::{syncshell_status as S, Failure, Outcome};

/// A handle as the C ABI sees it.
#[allow(non_camel_case_types)]
pub type syncshell_handle = u64;

/// Live handles are capped so a leaking host gets an error instead of exhausting memory.
const MAX_LIVE: usize = 1 << 24;
const GENERATION_MASK: u32 = 0x00FF_FFFF;

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
        }
    }
}

/// A shared object with its kind, as lists hold them.
pub(crate) type AnyObject = (Kind, Arc<dyn Any + Send + Sync>);

struct Slot {
    generation: u32,
    object: Option<AnyObject>,
}

struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    slots: Vec::new(),
    free: Vec::new(),
    live: 0,
});

fn table() -> MutexGuard<'static, Table> {
    // Nothing panics while the table is locked; a poisoned lock still holds a whole table.
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn split(handle: syncshell_handle) -> Outcome<(u8, u32, usize)> {
    let kind = (handle >> 56) as u8;
    let generation = ((handle >> 32) as u32) & GENERATION_MASK;
    let slot = (handle as u32) as usize;
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

/// Registers a shared object and returns its new handle.
pub(crate) fn insert_any((kind, object): AnyObject) -> Outcome<syncshell_handle> {
    let mut table = table();
    if table.live >= MAX_LIVE {
        return Err(Failure::new(
            S::SYNCSHELL_ERR_LIMIT,
            "too many live handles (16 Mi): free the ones you no longer use",
        ));
    }
    let index = match table.free.pop() {
        Some(index) => index as usize,
        None => {
            table.slots.push(Slot {
                generation: 1,
                object: None,
            });
            table.slots.len() - 1
        }
    };
    let slot = table
        .slots
        .get_mut(index)
        .ok_or_else(|| Failure::new(S::SYNCSHELL_ERR_LIMIT, "handle table is inconsistent"))?;
    slot.object = Some((kind, object));
    let generation = slot.generation;
    table.live += 1;
    Ok((kind as u64) << 56 | (generation as u64) << 32 | (index as u64 + 1))
}

/// Registers `object` and returns its new handle.
pub(crate) fn insert<T: Object>(object: T) -> Outcome<syncshell_handle> {
    insert_any((T::KIND, Arc::new(object)))
}

/// The object behind a live handle, whatever its kind.
pub(crate) fn get_any(handle: syncshell_handle) -> Outcome<AnyObject> {
    let (_, generation, index) = split(handle)?;
    let table = table();
    match table.slots.get(index) {
        Some(Slot {
            generation: g,
            object: Some((kind, object)),
        }) if *g == generation && *kind as u8 == (handle >> 56) as u8 => {
            Ok((*kind, Arc::clone(object)))
        }
        _ => Err(stale(handle)),
    }
}

fn wrong_kind<T: Object>(handle: syncshell_handle, kind: Kind) -> Failure {
    Failure::new(
        S::SYNCSHELL_ERR_WRONG_HANDLE_KIND,
        format!(
            "handle {handle:#018x} holds {}, this function takes {}",
            kind.with_article(),
            T::KIND.with_article()
        ),
    )
}

fn typed<T: Object>(handle: syncshell_handle, (kind, object): AnyObject) -> Outcome<Arc<T>> {
    if kind != T::KIND {
        return Err(wrong_kind::<T>(handle, kind));
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
pub(crate) fn get<T: Object>(handle: syncshell_handle) -> Outcome<Arc<T>> {
    typed(handle, get_any(handle)?)
}

/// Frees a handle of kind `T`; 0 is accepted and does nothing. The object is dropped here,
/// outside the table's lock, unless a call in flight still uses it.
pub(crate) fn remove<T: Object>(handle: syncshell_handle) -> Outcome {
    if handle == 0 {
        return Ok(());
    }
    let (_, generation, index) = split(handle)?;
    let removed = {
        let mut table = table();
        let Some(slot) = table.slots.get_mut(index) else {
            return Err(stale(handle));
        };
        match &slot.object {
            Some((kind, _))
                if slot.generation == generation && *kind as u8 == (handle >> 56) as u8 =>
            {
                if *kind != T::KIND {
                    return Err(wrong_kind::<T>(handle, *kind));
                }
            }
            _ => return Err(stale(handle)),
        }
        let removed = slot.object.take();
        slot.generation = (slot.generation % GENERATION_MASK) + 1;
        table.free.push(index as u32);
        table.live -= 1;
        removed
    };
    drop(removed);
    Ok(())
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
