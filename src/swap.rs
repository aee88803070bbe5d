//! A value that readers take a snapshot of and a reload replaces whole: the
//! streams and keys request handlers see.

use std::sync::{Arc, RwLock};

/// Readers get an `Arc` of the current value and keep it as long as they need;
/// a replacement does not wait for them.
pub struct Swap<T>(RwLock<Arc<T>>);

impl<T> Swap<T> {
    pub fn new(value: T) -> Self {
        Self(RwLock::new(Arc::new(value)))
    }

    /// The current value.
    pub fn load(&self) -> Arc<T> {
        // A poisoned lock only means a writer panicked between whole values.
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the value; readers holding the old one keep it.
    pub fn store(&self, value: T) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(value);
    }
}
