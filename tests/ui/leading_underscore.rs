cotrace::provider! {
    pub mod app {
        fn hidden(_reserved: u32);
    }
}

fn main() {}
