/* Bounded queues between threads: a ring of pointers under one mutex. */
#include "chan.h"

#include <stdlib.h>

int bg_chan_init(struct bg_chan *c, size_t cap)
{
  c->cap = cap > 0 ? cap : 1;
  c->head = 0;
  c->n = 0;
  c->closed = 0;
  c->items = calloc(c->cap, sizeof(*c->items));
  if (c->items == NULL)
    return -1;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->can_put, NULL);
  pthread_cond_init(&c->can_get, NULL);
  return 0;
}

void bg_chan_destroy(struct bg_chan *c)
{
  if (c->items == NULL)
    return;
  pthread_cond_destroy(&c->can_get);
  pthread_cond_destroy(&c->can_put);
  pthread_mutex_destroy(&c->mu);
  free(c->items);
  c->items = NULL;
}

int bg_chan_put(struct bg_chan *c, void *item)
{
  int rc = -1;

  pthread_mutex_lock(&c->mu);
  while (!c->closed && c->n == c->cap)
    pthread_cond_wait(&c->can_put, &c->mu);
  if (!c->closed) {
    c->items[(c->head + c->n) % c->cap] = item;
    c->n++;
    pthread_cond_signal(&c->can_get);
    rc = 0;
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

void *bg_chan_get(struct bg_chan *c)
{
  void *item = NULL;

  pthread_mutex_lock(&c->mu);
  while (!c->closed && c->n == 0)
    pthread_cond_wait(&c->can_get, &c->mu);
  if (c->n > 0) {
    item = c->items[c->head];
    c->head = (c->head + 1) % c->cap;
    c->n--;
    pthread_cond_signal(&c->can_put);
  }
  pthread_mutex_unlock(&c->mu);
  return item;
}

void bg_chan_close(struct bg_chan *c)
{
  pthread_mutex_lock(&c->mu);
  c->closed = 1;
  pthread_cond_broadcast(&c->can_put);
  pthread_cond_broadcast(&c->can_get);
  pthread_mutex_unlock(&c->mu);
}
