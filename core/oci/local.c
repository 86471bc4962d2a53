#include "local.h"

int bg_oci_local_import(const struct bg_oci_ref *ref, const struct bg_cache *c,
                        const struct bg_platform *want, char digest[BG_DIGEST_STRLEN],
                        char *media_type, size_t mtcap, struct bg_error *err)
{
  return bg_error_set(err, BG_EINVAL, "%s sources are not supported yet",
                      bg_oci_transport_name(ref->transport));
}
