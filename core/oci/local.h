/* Local sources with skopeo's transport names: oci:DIR[:TAG], oci-archive:FILE[:TAG],
 * docker-archive:FILE. Their blobs are copied into the cache through the same checks as a
 * download, and the chosen image is recorded under the reference's name. */
#ifndef BG_OCI_LOCAL_H
#define BG_OCI_LOCAL_H

#include "cache.h"
#include "manifest.h"
#include "ref.h"

int bg_oci_local_import(const struct bg_oci_ref *ref, const struct bg_cache *c,
                        const struct bg_platform *want, char digest[BG_DIGEST_STRLEN],
                        char *media_type, size_t mtcap, struct bg_error *err);

#endif
