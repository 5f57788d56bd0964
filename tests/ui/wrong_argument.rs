cotrace::provider! {
    pub mod app {
        fn sized(len: u32, name: &str);
    }
}

fn main() {
    cotrace::fire!(app::sized("not a number", 5));
}
