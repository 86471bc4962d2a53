/* A bounded queue of pointers between threads: put blocks while it is full, get while it is
 * empty. Closing it wakes everyone: puts fail from then on, gets drain what is left and then
 * return NULL. What is still queued when it is destroyed belongs to the caller (bg_chan_get it
 * out first). */
#ifndef BG_CHAN_H
#define BG_CHAN_H

#include <pthread.h>
#include <stddef.h>

struct bg_chan {
  pthread_mutex_t mu;
  pthread_cond_t can_put, can_get;
  void **items;
  size_t cap, head, n;
  int closed;
};

/* 0, or -1 when memory runs out (nothing to destroy then). cap is at least 1. */
int bg_chan_init(struct bg_chan *c, size_t cap);
void bg_chan_destroy(struct bg_chan *c);
/* 0, or -1 when the channel is closed (the item stays the caller's). */
int bg_chan_put(struct bg_chan *c, void *item);
/* The oldest item, or NULL once the channel is closed and empty. */
void *bg_chan_get(struct bg_chan *c);
void bg_chan_close(struct bg_chan *c);

#endif
