//! Stress tests of `solo::sync` (they land with the sync primitives).
