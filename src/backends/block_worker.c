/* A small pool of worker threads that runs block requests off the vCPU threads.
 *
 * One FIFO of queued requests (an intrusive list through req->next_) under one mutex;
 * `depth` bounds queued + running requests so that a guest cannot make isola queue
 * without limit. Each worker owns a scratch buffer (the O_DIRECT bounce buffer), so the
 * hot path never allocates. A worker calls req->done after dropping the lock: a
 * callback may submit again without deadlocking. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "backends/block.h"

struct block_worker {
	struct block_pool *pool;
	pthread_t thread;
	void *scratch;
};

struct block_pool {
	/* Protects everything below it: the queue, the counters and the stop flag. */
	pthread_mutex_t lock;
	pthread_cond_t work;    /* a request was queued, or stop was set */
	pthread_cond_t idle;    /* inflight dropped to 0 */
	struct block_req *head, **tail;
	unsigned inflight;      /* queued + running, ≤ depth */
	unsigned depth;
	bool stop;

	block_pool_exec_fn exec;
	void *ctx;
	unsigned nthreads;      /* threads started */
	struct block_worker *workers;
};

static void *block_worker_main(void *arg)
{
	struct block_worker *w = arg;
	struct block_pool *p = w->pool;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->work, &p->lock);
		if (!p->head)
			break; /* stop, and nothing left to run */
		struct block_req *req = p->head;
		p->head = req->next_;
		if (!p->head)
			p->tail = &p->head;
		pthread_mutex_unlock(&p->lock);

		/* req belongs to the caller again once done is called: read nothing
		 * from it afterwards. */
		int status = p->exec(p->ctx, req, w->scratch);
		req->done(req->opaque, status);

		pthread_mutex_lock(&p->lock);
		if (--p->inflight == 0)
			pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int block_pool_create(struct block_pool **out, unsigned nthreads, unsigned depth,
		      size_t scratch_size, size_t scratch_align, block_pool_exec_fn exec,
		      void *ctx)
{
	int ret;

	if (!nthreads || nthreads > BLOCK_MAX_WORKERS || !depth || !exec)
		return -EINVAL;
	struct block_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->workers = calloc(nthreads, sizeof(*p->workers));
	if (!p->workers) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->tail = &p->head;
	p->depth = depth;
	p->exec = exec;
	p->ctx = ctx;

	for (unsigned i = 0; i < nthreads; i++) {
		struct block_worker *w = &p->workers[i];
		w->pool = p;
		if (scratch_size) {
			ret = posix_memalign(&w->scratch, scratch_align, scratch_size);
			if (ret) {
				w->scratch = NULL;
				ret = -ret;
				goto err_stop;
			}
		}
		ret = -pthread_create(&w->thread, NULL, block_worker_main, w);
		if (ret) {
			free(w->scratch);
			w->scratch = NULL;
			goto err_stop;
		}
		p->nthreads++;
	}
	*out = p;
	return 0;

err_stop:
	block_pool_destroy(p);
	return ret;
}

int block_pool_submit(struct block_pool *p, struct block_req *req)
{
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	if (p->stop) {
		ret = -ESHUTDOWN;
	} else if (p->inflight >= p->depth) {
		ret = -EAGAIN;
	} else {
		req->next_ = NULL;
		*p->tail = req;
		p->tail = &req->next_;
		p->inflight++;
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void block_pool_drain(struct block_pool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->inflight)
		pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void block_pool_destroy(struct block_pool *p)
{
	if (!p)
		return;
	/* Workers finish the queue before they see stop with an empty queue, so
	 * every accepted request still completes exactly once. */
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->workers[i].thread, NULL);
	for (unsigned i = 0; i < p->nthreads; i++)
		free(p->workers[i].scratch);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p->workers);
	free(p);
}
