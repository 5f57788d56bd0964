//! Glue to the LTTng-UST adapter (cotrace-ust): written when its API lands.
