//! Glue to the user_events adapter (cotrace-kernel): written when its API lands.
