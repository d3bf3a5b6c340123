//! `prepare_fx`: observers inserted on the edges that need them.

/// What prepare decided, kept for convert.
#[derive(Debug, Clone, Default)]
pub(crate) struct PreparedInfo {}
