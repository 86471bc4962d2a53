/* Image references: Docker's normalisation, and skopeo's local transports. */
#ifndef BG_OCI_REF_H
#define BG_OCI_REF_H

#include "../digest/digest.h"
#include "../util/error.h"

#define BG_REF_NAME_MAX 255 /* distribution's limit on registry + repository */
#define BG_REF_TAG_MAX 128
#define BG_REF_PATH_MAX 4096

enum bg_ref_transport {
  BG_REF_DOCKER = 0,         /* a registry */
  BG_REF_OCI_DIR = 1,        /* oci:DIR[:TAG] */
  BG_REF_OCI_ARCHIVE = 2,    /* oci-archive:FILE[:TAG] */
  BG_REF_DOCKER_ARCHIVE = 3, /* docker-archive:FILE */
};

struct bg_oci_ref {
  int transport;
  char registry[BG_REF_NAME_MAX + 1];   /* "docker.io", "127.0.0.1:5000", "[::1]:5000" */
  char repository[BG_REF_NAME_MAX + 1]; /* "library/debian" */
  char tag[BG_REF_TAG_MAX + 1];         /* "" when only a digest pins the image */
  char digest[BG_DIGEST_STRLEN];        /* "" or "sha256:<hex>" */
  char path[BG_REF_PATH_MAX];           /* local transports: the directory or file */
  /* normalised: "docker.io/library/debian:latest", "r/x:1@sha256:..", or the local form */
  char name[BG_REF_NAME_MAX + BG_REF_TAG_MAX + BG_DIGEST_STRLEN + BG_REF_PATH_MAX + 32];
};

/* Parses s; on failure BG_EINVAL with a message naming the reference and what is wrong. */
int bg_oci_ref_parse(const char *s, struct bg_oci_ref *ref, struct bg_error *err);

const char *bg_oci_transport_name(int transport);

/* The host the registry API lives on ("docker.io" is served by registry-1.docker.io). */
const char *bg_oci_ref_api_host(const struct bg_oci_ref *ref);

/* 1 for localhost, 127.0.0.0/8 and [::1] (with or without a port): plain http is allowed. */
int bg_oci_host_is_loopback(const char *hostport);

#endif
