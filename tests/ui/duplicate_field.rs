cotrace::provider! {
    pub mod app {
        fn twice(id: u64, id: u32);
    }
}

fn main() {}
