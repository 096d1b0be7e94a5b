//! `setVariable(name, value)` and `getVariable(name)`: the template variables, over the ones the
//! host passed in `context.variables`.

use rquickjs::{Ctx, Function, Value};

use super::{check_running, copy_in, copy_out, define_global, fail_script, string_arg, Shared};

pub fn init<'js>(ctx: &Ctx<'js>, state: &Shared) -> rquickjs::Result<()> {
  let s = state.clone();
  let set = Function::new(
    ctx.clone(),
    move |ctx: Ctx<'js>, name: Value<'js>, value: Value<'js>| {
      check_running(&ctx, &s)?;
      let name = string_arg(&ctx, &name, "setVariable: the name")?;
      if name.is_empty() {
        return Err(rquickjs::Exception::throw_type(
          &ctx,
          "setVariable: the name must not be empty",
        ));
      }
      let json = copy_out(&ctx, value, "setVariable")?;
      let mut st = s.borrow_mut();
      let (old, new) = st.variables.set(name, json);
      if let Err(f) = st.budget.replace(old, new) {
        drop(st);
        return Err(fail_script(&ctx, &s, f));
      }
      Ok(())
    },
  )?
  .with_name("setVariable")?;
  let s = state.clone();
  let get = Function::new(ctx.clone(), move |ctx: Ctx<'js>, name: Value<'js>| {
    check_running(&ctx, &s)?;
    let name = string_arg(&ctx, &name, "getVariable: the name")?;
    let json = s.borrow().variables.get(&name).map(str::to_owned);
    match json {
      Some(json) => copy_in(&ctx, &json),
      None => Ok(Value::new_null(ctx.clone())),
    }
  })?
  .with_name("getVariable")?;
  define_global(ctx, "setVariable", set.into_value())?;
  define_global(ctx, "getVariable", get.into_value())
}
