/* Layers stacked on one tree: hardlinks, whiteouts, opaque directories and what replaces what. */
#include "harness.h"

/* entries are written positionally, trailing fields left out */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <time.h>

#include "fixtures.h"

/* ---- hardlinks ---- */

BG_TEST(hardlinks)
{
  struct bg_tree *t = new_tree();
  struct bg_inode *ino;

  LAYER("l.tar", PLAIN, E("bin/", 'd'), E("bin/gzip", 'f', "GZ", 0755, 0, 0),
        E("bin/gunzip", 'h', "bin/gzip", 0600, 1000, 1000), E("s", 'l', "/bin/gzip"),
        E("s2", 'h', "s"), E("bin/zcat", 'h', "./bin//gzip"));
  must_apply(t, "l.tar", PLAIN);
  ino = ino_of(t, "bin/gzip");
  CHECK(ino_of(t, "bin/gunzip") == ino);
  CHECK(ino_of(t, "bin/zcat") == ino);
  CHECK_INT(ino->nlink, 3);
  /* the link entry's own mode and owner do not touch the inode */
  CHECK_INT(ino->mode, S_IFREG | 0755);
  CHECK_INT(ino->uid, 0);
  /* a hardlink to a symlink shares the symlink's inode */
  CHECK(ino_of(t, "s2") == ino_of(t, "s"));
  CHECK_INT(ino_of(t, "s2")->mode & S_IFMT, S_IFLNK);
  bg_tree_free(t);
  LAYER("a.tar", PLAIN, E("d/", 'd'), E("x", 'h', "d"));
  CHECK_STR(fails("a.tar", PLAIN), "L: x: hardlink x: d is a directory");
  LAYER("b.tar", PLAIN, E("x", 'h', "../etc/shadow"));
  CHECK_STR(fails("b.tar", PLAIN), "L: x: unsafe hardlink (target leaves the root)");
  /* an absolute target is a path in the image root, as a chroot reads it */
  LAYER("c.tar", PLAIN, E("x", 'h', "/etc/shadow"));
  CHECK_STR(fails("c.tar", PLAIN), "L: x: hardlink x: etc/shadow: no such file or directory");
  LAYER("e.tar", PLAIN, E("x", 'h', "/../etc/shadow"));
  CHECK_STR(fails("e.tar", PLAIN), "L: x: unsafe hardlink (target leaves the root)");
  LAYER("f.tar", PLAIN, E("a/x", 'h', "a/../../etc/shadow"));
  CHECK_STR(fails("f.tar", PLAIN), "L: a/x: unsafe hardlink (target leaves the root)");
  LAYER("d.tar", PLAIN, E("x", 'h', "nothing"));
  CHECK_STR(fails("d.tar", PLAIN), "L: x: hardlink x: nothing: no such file or directory");
}

BG_TEST(cross_layer_hardlinks)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", GZIP, E("a", 'f', "old"), E("b", 'h', "a"), E("c", 'h', "a"));
  LAYER("2.tar", GZIP, E("a", 'f', "new"), E(".wh.b", 'f'));
  LAYER("3.tar", GZIP, E("d", 'h', "c"));
  must_apply(t, "1.tar", GZIP);
  CHECK_INT(ino_of(t, "a")->nlink, 3);
  must_apply(t, "2.tar", GZIP);
  CHECK_STR(content(t, "a"), "new");
  CHECK_STR(content(t, "c"), "old");
  CHECK_INT(ino_of(t, "c")->nlink, 1);
  CHECK_INT(ino_of(t, "a")->nlink, 1);
  CHECK(find(t, "b") == NULL);
  /* a later layer links to a name a lower one left */
  must_apply(t, "3.tar", GZIP);
  CHECK(ino_of(t, "d") == ino_of(t, "c"));
  CHECK_INT(ino_of(t, "d")->nlink, 2);
  bg_tree_free(t);
}

/* ---- whiteouts ---- */

BG_TEST(whiteout_drops_the_victim_and_its_metadata)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", PLAIN, E("etc/", 'd'), E("etc/secret", 'f', "old", 04700, 5, 6),
        E("etc/keep", 'f', "k"), E("var/cache/", 'd'), E("var/cache/x/y", 'f', "deep"));
  LAYER("2.tar", PLAIN, E("etc/.wh.secret", 'f'), E("var/.wh.cache", 'f'),
        E("var/.wh.missing", 'f'));
  LAYER("3.tar", PLAIN, E("etc/secret", 'f', "new"));
  must_apply(t, "1.tar", PLAIN);
  must_apply(t, "2.tar", PLAIN);
  CHECK_STR(listing(t), "/ /etc/ /etc/keep /var/");
  must_apply(t, "3.tar", PLAIN);
  /* nothing of the old file survives: mode, owner and content are the new entry's */
  CHECK_INT(ino_of(t, "etc/secret")->mode, S_IFREG | 0644);
  CHECK_INT(ino_of(t, "etc/secret")->uid, 0);
  CHECK_STR(content(t, "etc/secret"), "new");
  bg_tree_free(t);
}

BG_TEST(whiteout_spares_its_own_layer)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", PLAIN, E("d/old", 'f', "o"), E("f", 'f', "lower"));
  /* same layer: the new d and f stay; only what lower layers had in d goes */
  LAYER("2.tar", PLAIN, E("d/", 'd'), E("d/new", 'f', "n"), E(".wh.d", 'f'),
        E("f", 'f', "upper"), E(".wh.f", 'f'), E("g", 'f', "g"), E(".wh.g", 'f'));
  must_apply(t, "1.tar", PLAIN);
  must_apply(t, "2.tar", PLAIN);
  CHECK_STR(listing(t), "/ /d/ /d/new /f /g");
  CHECK_STR(content(t, "f"), "upper");
  bg_tree_free(t);
}

BG_TEST(whiteout_names_are_validated)
{
  struct bg_tree *t = new_tree();

  LAYER("a.tar", PLAIN, E(".wh.", 'f'));
  CHECK_STR(fails("a.tar", PLAIN), "L: .wh.: invalid whiteout name");
  LAYER("b.tar", PLAIN, E("d/.wh..", 'f'));
  CHECK_STR(fails("b.tar", PLAIN), "L: d/.wh..: invalid whiteout name");
  LAYER("c.tar", PLAIN, E("d/.wh...", 'f'));
  CHECK_STR(fails("c.tar", PLAIN), "L: d/.wh...: invalid whiteout name");
  /* only a name's last component marks a whiteout: ".wh.." on the way is a directory's name */
  LAYER("d.tar", PLAIN, E("d/.wh../x", 'f', "x"));
  must_apply(t, "d.tar", PLAIN);
  CHECK_STR(listing(t), "/ /d/ /d/.wh../ /d/.wh../x");
  bg_tree_free(t);
  t = new_tree();
  LAYER("e.tar", PLAIN, E("a/../.wh.a", 'f'));
  CHECK_STR(fails("e.tar", PLAIN), "L: a/../.wh.a: unsafe path");
  /* AUFS bookkeeping names are ignored, and no whiteout ever shows in the tree */
  LAYER("f.tar", PLAIN, E("x", 'f', "1"), E(".wh..wh.plnk/", 'd'), E(".wh..wh.plnk/1.2", 'f'),
        E(".wh..wh.aufs", 'f'));
  must_apply(t, "f.tar", PLAIN);
  CHECK_STR(listing(t), "/ /x");
  bg_tree_free(t);
}

static void opaque_case(const char *upper_first, const char *upper_second)
{
  struct bg_tree *t = new_tree();
  struct archive *a;
  struct ent l1[] = {E("d/", 'd', NULL, 0700, 3, 3), E("d/a", 'f', "a"), E("d/sub/b", 'f', "b"),
                     E("d/sub/c", 'f', "c"), E("e/kept", 'f', "k")};
  struct ent up[] = {E("d/", 'd'), E("d/n", 'f', "n"), E("d/sub/m", 'f', "m")};
  struct ent opq = E("d/.wh..wh..opq", 'f');
  size_t i;

  write_layer("1.tar", GZIP, l1, sizeof(l1) / sizeof(l1[0]));
  a = lw_open("2.tar", GZIP, 0);
  if (strcmp(upper_first, "opq") == 0)
    lw_put(a, mk(&opq), NULL, 0);
  for (i = 0; i < sizeof(up) / sizeof(up[0]); i++)
    lw_put(a, mk(&up[i]), up[i].data, up[i].data ? strlen(up[i].data) : 0);
  if (strcmp(upper_second, "opq") == 0)
    lw_put(a, mk(&opq), NULL, 0);
  lw_close(a);
  must_apply(t, "1.tar", GZIP);
  must_apply(t, "2.tar", GZIP);
  /* d/sub came back in this layer (implicitly, for d/sub/m): only its new child stays */
  CHECK_STR(listing(t), "/ /d/ /d/n /d/sub/ /d/sub/m /e/ /e/kept");
  CHECK_INT(ino_of(t, "d")->mode, S_IFDIR | 0755);
  bg_tree_free(t);
}

BG_TEST(opaque_directory_wherever_the_marker_is)
{
  opaque_case("opq", "");
  opaque_case("", "opq");
}

BG_TEST(opaque_marker_alone)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", PLAIN, E("d/a", 'f', "a"), E("d/s/b", 'f', "b"), E("x/y", 'f', "y"));
  LAYER("2.tar", PLAIN, E("d/.wh..wh..opq", 'f'), E("new/.wh..wh..opq", 'f'));
  LAYER("3.tar", PLAIN, E(".wh..wh..opq", 'f'), E("z", 'f', "z"));
  must_apply(t, "1.tar", PLAIN);
  must_apply(t, "2.tar", PLAIN);
  /* an opaque directory exists in its layer, emptied of everything lower */
  CHECK_STR(listing(t), "/ /d/ /new/ /x/ /x/y");
  /* at the root it hides every lower layer */
  must_apply(t, "3.tar", PLAIN);
  CHECK_STR(listing(t), "/ /z");
  bg_tree_free(t);
}

BG_TEST(opaque_spares_what_the_layer_implies)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", PLAIN, E("f", 'f', "f"), E("a/b/x", 'f', "x"), E("a/b/y", 'f', "y"),
        E("a/c", 'f', "c"));
  /* a/b exists in this layer as the directory of a whiteout; a/link is a hardlink made here */
  LAYER("2.tar", PLAIN, E("a/b/.wh.x", 'f'), E("a/link", 'h', "f"), E("a/.wh..wh..opq", 'f'));
  must_apply(t, "1.tar", PLAIN);
  must_apply(t, "2.tar", PLAIN);
  CHECK_STR(listing(t), "/ /a/ /a/b/ /a/link /f");
  CHECK(ino_of(t, "a/link") == ino_of(t, "f"));
  CHECK_INT(ino_of(t, "f")->nlink, 2);
  bg_tree_free(t);
}

BG_TEST(overlay_whiteout_device_is_dropped)
{
  struct bg_tree *t = new_tree();
  struct bg_layer_policy keep;
  struct archive *a = lw_open("2.tar", PLAIN, 0);
  struct ent x = {"f", 'c', NULL, 0, 0, 0};
  struct archive_entry *e = mk(&x);

  archive_entry_set_rdevmajor(e, 0);
  archive_entry_set_rdevminor(e, 0);
  lw_put(a, e, NULL, 0);
  lw_close(a);
  LAYER("1.tar", PLAIN, E("f", 'f', "lower"));
  memset(&keep, 0, sizeof(keep));
  keep.devices = BG_LAYER_DEVICES_KEEP;
  CHECK_INT(apply_p(t, "1.tar", PLAIN, NULL, &keep), 0);
  CHECK_INT(apply_p(t, "2.tar", PLAIN, NULL, &keep), 0);
  /* neither a device nor a whiteout: the lower file stays */
  CHECK_STR(content(t, "f"), "lower");
  bg_tree_free(t);
}

/* ---- replacement and order of layers ---- */

BG_TEST(dir_over_dir_keeps_children_anything_else_replaces)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", PLAIN, E("d/", 'd', NULL, 0700, 1, 1), E("d/x", 'f', "x"),
        E("e/", 'd'), E("e/y", 'f', "y"), E("f", 'f', "file"));
  LAYER("2.tar", PLAIN, E("d/", 'd', NULL, 0750, 2, 2), E("e", 'l', "d"), E("f/", 'd'),
        E("f/z", 'f', "z"));
  must_apply(t, "1.tar", PLAIN);
  must_apply(t, "2.tar", PLAIN);
  CHECK_STR(listing(t), "/ /d/ /d/x /e@ /f/ /f/z");
  CHECK_INT(ino_of(t, "d")->mode, S_IFDIR | 0750);
  CHECK_INT(ino_of(t, "d")->uid, 2);
  bg_tree_free(t);
}

BG_TEST(multi_layer_replay)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar.gz", GZIP, E("bin/", 'd'), E("bin/sh", 'f', "dash"), E("etc/os-release", 'f',
        "ID=debian\n"), E("usr/bin/mawk", 'f', "awk"), E("etc/alternatives/awk", 'l',
        "/usr/bin/mawk"));
  LAYER("2.tar.zst", ZSTD, E("bin/sh", 'l', "bash"), E("bin/bash", 'f', "bash", 0755),
        E("etc/.wh.os-release", 'f'), E("usr/.wh..wh..opq", 'f'), E("usr/bin/gawk", 'f', "g"));
  LAYER("3.tar", PLAIN, E("etc/os-release", 'f', "ID=ubuntu\n"), E("etc/alternatives/awk",
        'l', "/usr/bin/gawk"));
  must_apply(t, "1.tar.gz", GZIP);
  must_apply(t, "2.tar.zst", ZSTD);
  must_apply(t, "3.tar", PLAIN);
  CHECK_STR(listing(t), "/ /bin/ /bin/bash /bin/sh@ /etc/ /etc/alternatives/ "
            "/etc/alternatives/awk@ /etc/os-release /usr/ /usr/bin/ /usr/bin/gawk");
  CHECK_STR(content(t, "etc/os-release"), "ID=ubuntu\n");
  CHECK_STR(ino_of(t, "etc/alternatives/awk")->target, "/usr/bin/gawk");
  CHECK_STR(ino_of(t, "bin/sh")->target, "bash");
  bg_tree_free(t);
}

/* 80,000 files, each followed by an opaque marker for their directory, and the same at the
 * root: a directory made opaque stays so for the layer, so a repeated marker costs nothing (each
 * used to walk everything the layer had written: 45 s for this layer, quadratic). */
BG_TEST(repeated_opaque_markers_cost_linear_time)
{
  struct bg_tree *t = new_tree();
  struct timespec t0, t1;
  struct archive *a;
  char name[32];
  double secs;
  size_t n;
  int i;

  LAYER("1.tar", PLAIN, E("d/old", 'f', "o"), E("d/sub/old", 'f', "o"), E("top", 'f', "t"));
  a = lw_open("2.tar", PLAIN, 1);
  for (i = 0; i < 80000; i++) {
    snprintf(name, sizeof(name), "d/f%05d", i);
    lw_empty(a, name);
    lw_empty(a, i % 2 ? "d/.wh..wh..opq" : ".wh..wh..opq");
  }
  lw_close(a);
  must_apply(t, "1.tar", PLAIN);
  /* processor time, so a busy machine does not count */
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
  must_apply(t, "2.tar", PLAIN);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
  secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  bg_node_children(find(t, "d"), &n);
  CHECK_INT(n, 80000);
  CHECK(find(t, "d/old") == NULL && find(t, "top") == NULL && find(t, "d/sub") == NULL);
  CHECK_INT(bg_tree_entries(t), 80001);
  /* well under 1 s in a release build; the bound leaves room for sanitizers */
  if (secs > 10)
    bg_test_fail(__FILE__, __LINE__, "took %.1f s", secs);
  bg_tree_free(t);
}

/* A layer cannot use a symlink to put a name deeper than Linux's PATH_MAX, where a recipe's walk
 * could not see it: such an entry is refused. */
BG_TEST(no_entry_deeper_than_path_max)
{
  struct archive *a = lw_open("l.tar", PLAIN, 0);
  char deep[4096], name[400];
  struct bg_tree *t;
  size_t i, len = 0;

  for (i = 0; i < 16; i++) { /* a directory whose path is 4000 bytes */
    if (len)
      deep[len++] = '/';
    memset(deep + len, 'a' + (int)i, 249);
    len += 249;
  }
  deep[len] = '\0';
  {
    struct ent d = {deep, 'd', NULL, 0, 0, 0}, s = {"s", 'l', NULL, 0, 0, 0};
    struct ent ok = {"s/fits", 'f', "f", 04755, 0, 0}, bad = {name, 'f', "x", 04755, 0, 0};

    s.data = deep;
    lw_put(a, mk(&d), NULL, 0);
    lw_put(a, mk(&s), NULL, 0);
    lw_put(a, mk(&ok), "f", 1);
    memcpy(name, "s/", 2);
    memset(name + 2, 'z', 200);
    name[202] = '\0';
    lw_put(a, mk(&bad), "x", 1);
  }
  lw_close(a);
  t = new_tree();
  CHECK_INT(apply_p(t, "l.tar", PLAIN, NULL, NULL), -1);
  CHECK_CONTAINS(last_err.msg, ": path too long (4201 bytes, at most 4095)");
  CHECK_INT(last_err.code, BG_ETOOBIG);
  bg_tree_free(t);
}

/* ---- more layers than readers ---- */

#define MANY 9

/* Layer 1 large (20,000 files and 4 MiB that do not compress), slow to read beside the small
 * ones after it: layer k (k > 1) writes f ("layer k") and wk, whites out the w of the layer
 * before and holds a fifo, whose note (devices=skip) carries its number. */
static void many_layers(struct bg_layer_src *src, char (*files)[32], char (*labels)[32])
{
  static unsigned char noise[4 << 20];
  struct ent x = {NULL, 'f', NULL, 0, 0, 0};
  char name[64], data[32];
  struct archive *a;
  uint32_t r = 1;
  size_t i, k;

  a = lw_open("m0.tar.gz", GZIP, 0);
  for (i = 0; i < 20000; i++) {
    snprintf(name, sizeof(name), "base/%zu", i);
    x.name = name;
    x.data = "base";
    lw_put(a, mk(&x), "base", 4);
  }
  for (i = 0; i < sizeof(noise); i++) {
    r = r * 1103515245u + 12345u;
    noise[i] = (unsigned char)(r >> 24);
  }
  x.name = "base/noise";
  x.data = NULL;
  {
    struct archive_entry *e = mk(&x);

    archive_entry_set_size(e, (la_int64_t)sizeof(noise));
    lw_put(a, e, noise, sizeof(noise));
  }
  lw_close(a);
  for (k = 1; k < MANY; k++) {
    snprintf(name, sizeof(name), "m%zu.tar", k);
    a = lw_open(name, PLAIN, 0);
    snprintf(data, sizeof(data), "layer %zu", k + 1);
    x = (struct ent){"f", 'f', data, 0, 0, 0};
    lw_put(a, mk(&x), data, strlen(data));
    snprintf(data, sizeof(data), "w%zu", k + 1);
    lw_empty(a, data);
    if (k > 1) {
      snprintf(data, sizeof(data), ".wh.w%zu", k);
      lw_empty(a, data);
    }
    snprintf(data, sizeof(data), "p%zu", k + 1);
    x = (struct ent){data, 'p', NULL, 0, 0, 0};
    lw_put(a, mk(&x), NULL, 0);
    lw_close(a);
  }
  memset(src, 0, MANY * sizeof(*src));
  for (k = 0; k < MANY; k++) {
    snprintf(files[k], 32, k == 0 ? "m0.tar.gz" : "m%zu.tar", k);
    snprintf(labels[k], 32, "L%zu", k + 1);
    src[k].path = files[k];
    src[k].media_type = media[k == 0 ? GZIP : PLAIN];
    src[k].label = labels[k];
  }
}

/* More layers than readers: read ahead in whatever order the readers finish them, applied in
 * order, with one reader or several: what each layer whites out, the notes and their layer
 * numbers, the cap on entries met in the layer where it would be met alone, and the first
 * failing layer named even when a later one fails sooner. */
BG_TEST(more_layers_than_readers_apply_in_order)
{
  static const unsigned widths[] = {1, 2, 4};
  struct bg_layer_src src[MANY];
  char files[MANY][32], labels[MANY][32], name[32];
  const struct bg_notes *ns;
  struct bg_layer_policy p;
  struct bg_error err;
  struct bg_tree *t;
  size_t w, i, k;

  many_layers(src, files, labels);
  for (w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
    memset(&p, 0, sizeof(p));
    p.parallel = widths[w];
    t = new_tree();
    bg_error_clear(&err);
    CHECK_INT(bg_layer_apply_all(t, src, MANY, &p, &err), 0);
    CHECK_STR(content(t, "f"), "layer 9");
    CHECK(find(t, "base/19999") != NULL && find(t, "w9") != NULL);
    for (k = 2; k < MANY; k++) {
      snprintf(name, sizeof(name), "w%zu", k);
      CHECK(find(t, name) == NULL);
    }
    CHECK_INT(bg_tree_entries(t), 20004); /* base/, its files and noise, f and w9 */
    ns = bg_tree_notes(t);
    CHECK_INT(ns->n, MANY - 1);
    for (i = 0; i < ns->n; i++) {
      snprintf(name, sizeof(name), "/p%zu", i + 2);
      CHECK_STR(ns->v[i].path, name);
      CHECK_INT(ns->v[i].layer, i + 2);
    }
    bg_tree_free(t);

    /* entries: 20,001 in layer 1, 3 in layer 2, 4 in each after; the cap is passed in layer 7 */
    p.max_entries = 20001 + 3 + 4 * 4 + 2;
    t = new_tree();
    CHECK_INT(bg_layer_apply_all(t, src, MANY, &p, &err), -1);
    CHECK_STR(err.msg, "L7: more than 20022 entries in the layers");
    CHECK_INT(err.code, BG_ETOOBIG);
    bg_tree_free(t);
    p.max_entries = 0;

    /* layer 4 refused, layer 8 missing: read sooner, it still waits for its turn */
    src[3].media_type = "application/x-nothing";
    src[7].path = "nowhere.tar";
    t = new_tree();
    CHECK_INT(bg_layer_apply_all(t, src, MANY, &p, &err), -1);
    CHECK_STR(err.msg, "L4: unsupported layer media type application/x-nothing");
    bg_tree_free(t);
    src[3].media_type = "application/vnd.oci.image.layer.v1.tar";
    t = new_tree();
    CHECK_INT(bg_layer_apply_all(t, src, MANY, &p, &err), -1);
    CHECK_STR(err.msg, "L8: cannot open nowhere.tar: No such file or directory");
    CHECK_INT(err.code, BG_EIO);
    bg_tree_free(t);
    src[7].path = files[7];
  }
}
