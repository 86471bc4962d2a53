/* The registry client: a session (session.c) with its authentication (auth.c) on top. */
#include "session.h"

#include <stdlib.h>

int bg_reg_open(const struct bg_oci_ref *ref, const struct bg_reg_opts *o, struct bg_reg **out,
                struct bg_error *err)
{
  struct bg_reg *r;

  *out = NULL;
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  r->hooks = &bg_auth_hooks;
  if (bg_session_init(r, ref, o, err) != 0 || bg_auth_new(r, err) != 0) {
    bg_reg_close(r);
    return -1;
  }
  *out = r;
  return 0;
}

void bg_reg_close(struct bg_reg *r)
{
  if (r == NULL)
    return;
  bg_auth_free(r);
  bg_session_fini(r);
  free(r);
}
