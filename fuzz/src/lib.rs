//! Stand-ins for the N-API functions the main crate refers to. It is a Node addon: Node provides
//! them to the `.node` file, and these executables have no Node. The fuzz targets never reach the
//! addon's exports, so a stand-in that is called is a defect: it aborts.

macro_rules! stand_ins {
  ($($name:ident,)*) => {
    $(
      #[no_mangle]
      pub extern "C" fn $name() {
        eprintln!(concat!(stringify!($name), " called outside Node"));
        std::process::abort();
      }
    )*
  };
}

stand_ins! {
  napi_add_env_cleanup_hook,
  napi_call_function,
  napi_call_threadsafe_function,
  napi_check_object_type_tag,
  napi_coerce_to_bool,
  napi_coerce_to_number,
  napi_coerce_to_string,
  napi_create_array_with_length,
  napi_create_double,
  napi_create_error,
  napi_create_function,
  napi_create_object,
  napi_create_promise,
  napi_create_range_error,
  napi_create_reference,
  napi_create_string_latin1,
  napi_create_string_utf8,
  napi_create_threadsafe_function,
  napi_create_type_error,
  napi_create_uint32,
  napi_define_properties,
  napi_delete_reference,
  napi_fatal_exception,
  napi_get_and_clear_last_exception,
  napi_get_array_length,
  napi_get_boolean,
  napi_get_cb_info,
  napi_get_element,
  napi_get_global,
  napi_get_named_property,
  napi_get_null,
  napi_get_prototype,
  napi_get_reference_value,
  napi_get_undefined,
  napi_get_value_bool,
  napi_get_value_double,
  napi_get_value_string_utf8,
  napi_has_own_property,
  napi_is_array,
  napi_is_error,
  napi_is_exception_pending,
  napi_new_instance,
  napi_reference_unref,
  napi_reject_deferred,
  napi_release_threadsafe_function,
  napi_remove_env_cleanup_hook,
  napi_resolve_deferred,
  napi_set_element,
  napi_set_named_property,
  napi_throw,
  napi_type_tag_object,
  napi_typeof,
  napi_unref_threadsafe_function,
  napi_unwrap,
  napi_wrap,
}
