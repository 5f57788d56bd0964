cotrace::provider! {
    pub mod app {
        #[level(loud)]
        fn shout(volume: u8);
    }
}

fn main() {}
