//! eventlet's `corolocal.local`: storage with one value per green thread.
//!
//! A `thread_local!` is wrong for green threads: they move between worker
//! threads at every blocking call, and many share one worker. A [`Local`]
//! follows the green thread instead; each green thread (or plain OS thread)
//! sees its own value, created by the `init` function on first use, and the
//! value is dropped when that green thread ends.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

type Slots = RefCell<HashMap<u64, Box<dyn Any + Send>>>;

// Dropped with the green thread (may keeps it in the coroutine's own storage);
// in a plain thread it is that thread's.
may::coroutine_local!(static SLOTS: Slots = RefCell::new(HashMap::new()));

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Green-thread-local storage (eventlet's `corolocal.local`).
///
/// ```
/// use std::sync::Arc;
/// let request_id = Arc::new(eventlet::local::Local::new(|| 0u64));
/// let threads: Vec<_> = (1..=3u64)
///     .map(|i| {
///         let request_id = request_id.clone();
///         eventlet::spawn(move || {
///             request_id.set(i);
///             eventlet::sleep(std::time::Duration::from_millis(5)); // others run
///             request_id.get()
///         })
///     })
///     .collect();
/// let seen: Vec<u64> = threads.iter().map(|t| t.wait().unwrap()).collect();
/// assert_eq!(seen, [1, 2, 3]);
/// assert_eq!(request_id.get(), 0); // this thread never set it
/// ```
pub struct Local<T> {
    id: u64,
    init: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local").field("id", &self.id).finish()
    }
}

impl<T: Default + Send + 'static> Default for Local<T> {
    fn default() -> Self {
        Local::new(T::default)
    }
}

impl<T: Send + 'static> Local<T> {
    /// Storage whose value in each green thread starts as `init()`.
    pub fn new(init: impl Fn() -> T + Send + Sync + 'static) -> Local<T> {
        Local {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            init: Box::new(init),
        }
    }

    /// Run `f` on this green thread's value (created first if needed). `f`
    /// may block; other green threads meanwhile see their own values.
    ///
    /// # Panics
    /// When called again for the same `Local` from inside `f`.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut value = self.take_slot();
        // Put it back however `f` ends, so a caught panic keeps the value.
        struct Back<'a, T: Send + 'static> {
            local: &'a Local<T>,
            value: Option<T>,
        }
        impl<T: Send + 'static> Drop for Back<'_, T> {
            fn drop(&mut self) {
                if let Some(v) = self.value.take() {
                    self.local.put_slot(Some(v));
                }
            }
        }
        let mut back = Back {
            local: self,
            value: Some(value.take().unwrap_or_else(|| (self.init)())),
        };
        f(back.value.as_mut().expect("value present until drop"))
    }

    /// A copy of this green thread's value.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.with(|v| v.clone())
    }

    /// Replace this green thread's value.
    pub fn set(&self, value: T) {
        self.with(|v| *v = value)
    }

    /// Remove this green thread's value (the next access calls `init` again);
    /// `None` if it had none.
    pub fn take(&self) -> Option<T> {
        let v = self.take_slot();
        self.put_slot(None);
        v
    }

    /// True if this green thread has a value (set, or created by an access).
    pub fn is_set(&self) -> bool {
        SLOTS.with(|s| s.borrow().contains_key(&self.id))
    }

    /// Take the value out of the slot for the duration of an access, leaving
    /// a marker that catches re-entry.
    fn take_slot(&self) -> Option<T> {
        SLOTS.with(|s| {
            let mut map = s.borrow_mut();
            let slot = map
                .entry(self.id)
                .or_insert_with(|| Box::new(Slot::<T>::Empty));
            let slot = slot
                .downcast_mut::<Slot<T>>()
                .expect("one type per Local id");
            match std::mem::replace(slot, Slot::InUse) {
                Slot::Value(v) => Some(v),
                Slot::Empty => None,
                Slot::InUse => {
                    *slot = Slot::InUse;
                    drop(map);
                    panic!("eventlet::local::Local accessed again from inside its own `with`")
                }
            }
        })
    }

    fn put_slot(&self, v: Option<T>) {
        SLOTS.with(|s| {
            let mut map = s.borrow_mut();
            match v {
                Some(v) => {
                    map.insert(self.id, Box::new(Slot::Value(v)));
                }
                None => {
                    map.remove(&self.id);
                }
            }
        })
    }
}

enum Slot<T> {
    Empty,
    InUse,
    Value(T),
}
