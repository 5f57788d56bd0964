// 16 string fields with long names: `app_wide __data_loc char[] field_with_...; ...` is over
// the kernel's 512 bytes.
cotrace::provider! {
    pub mod app {
        fn wide(field_with_a_rather_long_name_0: &str, field_with_a_rather_long_name_1: &str, field_with_a_rather_long_name_2: &str, field_with_a_rather_long_name_3: &str, field_with_a_rather_long_name_4: &str, field_with_a_rather_long_name_5: &str, field_with_a_rather_long_name_6: &str, field_with_a_rather_long_name_7: &str, field_with_a_rather_long_name_8: &str, field_with_a_rather_long_name_9: &str, field_with_a_rather_long_name_10: &str, field_with_a_rather_long_name_11: &str, field_with_a_rather_long_name_12: &str, field_with_a_rather_long_name_13: &str, field_with_a_rather_long_name_14: &str, field_with_a_rather_long_name_15: &str);
    }
}

fn main() {}
