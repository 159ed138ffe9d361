/*
 * autograd.c: the reverse-mode engine: grad mode, recording nodes, saved
 * tensors with version checks, the topological backward pass, in-place
 * safety, and the finite-difference gradient checker.
 *
 * The graph is made of tn_node objects (autograd.h).  A tensor owns a
 * reference to its grad_fn; a node owns references to the grad_fns of its
 * inputs and to its leaf inputs, never to its output, so the graph is a DAG
 * of references with no cycles and frees itself when the last tensor that
 * can reach it goes away.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const tn_op_names[TN_OP_COUNT] = {
#define TN_OP(id, name, backward) name,
#include "ops.def"
#undef TN_OP
};

const tn_backward_fn tn_op_backward[TN_OP_COUNT] = {
#define TN_OP(id, name, backward) backward,
#include "ops.def"
#undef TN_OP
};

_Static_assert(sizeof tn_op_names / sizeof tn_op_names[0] == TN_OP_COUNT, "op table length");

/* ---------- grad mode ---------- */

static _Thread_local bool grad_enabled = true;

bool tn_set_grad_enabled(bool on) {
    bool was = grad_enabled;
    grad_enabled = on;
    return was;
}

bool tn_is_grad_enabled(void) { return grad_enabled; }

bool tn_grad_needed(int n, tn_tensor *const *inputs) {
    if (!grad_enabled) return false;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return true;
    return false;
}

/* ---------- nodes ---------- */

tn_node *tn_node_retain(tn_node *n) {
    if (n) n->refcount++;
    return n;
}

static void free_saved(tn_node *n) {
    for (int i = 0; i < n->nsaved; i++) {
        tn_release(n->saved[i]);
        n->saved[i] = NULL;
    }
    if (n->ctx && n->ctx_free) n->ctx_free(n->ctx);
    n->ctx = NULL;
    n->released = true;
}

void tn_node_release(tn_node *n) {
    /* iterative, so releasing a long chain (an RNN unrolled over thousands of
     * steps) cannot overflow the C stack */
    tn_node *stack_small[64];
    tn_node **stack = stack_small;
    int cap = 64, top = 0;
    stack[top++] = n;
    while (top > 0) {
        tn_node *m = stack[--top];
        if (!m || --m->refcount > 0) continue;
        free_saved(m);
        if (m->grad_acc) tn_release(m->grad_acc);
        for (int i = 0; i < m->ninputs; i++) {
            if (m->edges[i].leaf) tn_release(m->edges[i].leaf);
            if (m->edges[i].fn) {
                if (top == cap) {
                    tn_node **bigger = malloc(sizeof *bigger * (size_t)cap * 2);
                    if (!bigger) { /* leak rather than crash */ continue; }
                    memcpy(bigger, stack, sizeof *stack * (size_t)top);
                    if (stack != stack_small) free(stack);
                    stack = bigger;
                    cap *= 2;
                }
                stack[top++] = m->edges[i].fn;
            }
        }
        free(m);
    }
    if (stack != stack_small) free(stack);
}

tn_node *tn_record_op(int op, const char *name, tn_backward_fn backward, tn_tensor *out, int n,
                      tn_tensor *const *inputs) {
    if (n > TN_NODE_MAX_INPUTS) {
        tn_error("%s: too many inputs for autograd (%d)", name, n);
        return NULL;
    }
    tn_node *node = calloc(1, sizeof *node);
    if (!node) {
        tn_error("out of memory");
        return NULL;
    }
    node->refcount = 1;
    node->op = op;
    node->name = name;
    node->backward = backward;
    node->ninputs = n;
    for (int i = 0; i < n; i++) {
        tn_tensor *in = inputs[i];
        tn_edge *e = &node->edges[i];
        if (!in) continue;
        e->ndim = in->ndim;
        memcpy(e->shape, in->shape, sizeof(int64_t) * (size_t)in->ndim);
        e->dtype = in->dtype;
        if (!in->requires_grad) continue;
        if (in->grad_fn) e->fn = tn_node_retain(in->grad_fn);
        else e->leaf = tn_retain(in);
    }
    node->out_ndim = out->ndim;
    memcpy(node->out_shape, out->shape, sizeof(int64_t) * (size_t)out->ndim);
    node->out_dtype = out->dtype;
    if (out->grad_fn) tn_node_release(out->grad_fn);
    out->grad_fn = node;
    out->requires_grad = true;
    return node;
}

tn_node *tn_record(tn_op op, tn_tensor *out, int n, tn_tensor *const *inputs) {
    return tn_record_op((int)op, tn_op_names[op], tn_op_backward[op], out, n, inputs);
}

int tn_save(tn_node *n, tn_tensor *t) {
    if (n->nsaved >= TN_NODE_MAX_SAVED) return -1;
    tn_tensor *a = tn_detach(t);
    if (!a) return -1;
    a->is_wrapped_number = t->is_wrapped_number;
    n->saved[n->nsaved] = a;
    n->saved_version[n->nsaved] = t->storage->version;
    return n->nsaved++;
}

tn_tensor *tn_saved(tn_node *n, int i) {
    if (n->released || i >= n->nsaved || !n->saved[i]) {
        tn_error("backward: the saved tensors of '%s' were already freed: trying to backward "
                 "through the graph a second time (pass {retain_graph=true} to the first backward)",
                 n->name);
        return NULL;
    }
    tn_tensor *s = n->saved[i];
    if (s->storage->version != n->saved_version[i]) {
        tn_error("backward: a tensor saved by '%s' was modified by an in-place operation "
                 "(version %u, saved at version %u); compute it out of place, or clone it first",
                 n->name, s->storage->version, n->saved_version[i]);
        return NULL;
    }
    return s;
}

/* ---------- in-place ---------- */

void tn_bump_version(tn_tensor *t) { t->storage->version++; }

int tn_inplace_check(tn_tensor *t, const char *opname) {
    if (!grad_enabled || !t->requires_grad) return 0;
    if (!t->grad_fn) {
        tn_error("%s: a leaf tensor that requires grad cannot be modified in place "
                 "(wrap the update in ember.no_grad, or use detach())", opname);
        return -1;
    }
    if (t->is_view) {
        tn_error("%s: in-place change of a view of a tensor that requires grad is not "
                 "supported; compute the result out of place", opname);
        return -1;
    }
    return 0;
}

/* ---------- backward ---------- */

static int64_t topo_generation = 0;

typedef struct {
    tn_node **v;
    int64_t n, cap;
} node_vec;

static int vec_push(node_vec *s, tn_node *n) {
    if (s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 64;
        tn_node **v = realloc(s->v, sizeof *v * (size_t)cap);
        if (!v) {
            tn_error("backward: out of memory");
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = n;
    return 0;
}

/* Post-order DFS (iterative, so deep graphs cannot overflow the C stack):
 * a node is emitted after all the nodes it depends on, so walking `order`
 * backwards visits every consumer before its producers. */
static int topo_sort(tn_node *root, node_vec *order) {
    int64_t gen = ++topo_generation;
    node_vec stack = {0};
    /* next[i]: the next edge to visit of stack.v[i] */
    int *next = NULL;
    int64_t next_cap = 0;
    int rc = 0;
    root->topo_mark = gen;
    if (vec_push(&stack, root) < 0) return -1;
    next_cap = 64;
    next = malloc(sizeof *next * (size_t)next_cap);
    if (!next) { free(stack.v); tn_error("backward: out of memory"); return -1; }
    next[0] = 0;
    while (stack.n > 0) {
        tn_node *top = stack.v[stack.n - 1];
        int *ni = &next[stack.n - 1];
        if (*ni < top->ninputs) {
            tn_node *child = top->edges[(*ni)++].fn;
            if (child && child->topo_mark != gen) {
                child->topo_mark = gen;
                if (vec_push(&stack, child) < 0) { rc = -1; break; }
                if (stack.n > next_cap) {
                    next_cap *= 2;
                    int *nn = realloc(next, sizeof *nn * (size_t)next_cap);
                    if (!nn) { rc = -1; tn_error("backward: out of memory"); break; }
                    next = nn;
                }
                next[stack.n - 1] = 0;
            }
        } else {
            stack.n--;
            if (vec_push(order, top) < 0) { rc = -1; break; }
        }
    }
    free(stack.v);
    free(next);
    return rc;
}

/* Sums or casts g to the edge's shape and dtype; new reference. */
static tn_tensor *fit_to_edge(tn_node *n, int i, tn_tensor *g) {
    tn_edge *e = &n->edges[i];
    tn_tensor *r;
    if (g->ndim == e->ndim && memcmp(g->shape, e->shape, sizeof(int64_t) * (size_t)e->ndim) == 0)
        r = tn_retain(g);
    else
        r = tn_sum_to(g, e->ndim, e->shape);
    if (!r) return NULL;
    if (r->ndim != e->ndim || memcmp(r->shape, e->shape, sizeof(int64_t) * (size_t)e->ndim) != 0) {
        char s1[128], s2[128];
        tn_error("backward of '%s': gradient for input %d has shape %s, expected %s", n->name, i + 1,
                 tn_shape_str(r->shape, r->ndim, s1, sizeof s1),
                 tn_shape_str(e->shape, e->ndim, s2, sizeof s2));
        tn_release(r);
        return NULL;
    }
    if (r->dtype != e->dtype) {
        tn_tensor *c = tn_to(r, e->dtype);
        tn_release(r);
        r = c;
    }
    return r;
}

/* True when nobody but the caller can see t or its data: then the engine
 * may keep t as an accumulator and add into it in place, instead of
 * copying it (copying every gradient cost 17% of an MLP training step). */
static bool privately_owned(const tn_tensor *t) {
    return t->refcount == 1 && t->storage->refcount == 1 && tn_is_contiguous(t) && !t->is_view;
}

/* acc += g, taking the caller's reference to g.  *acc may be NULL. */
static int accumulate(tn_tensor **acc, tn_tensor *g) {
    if (!*acc) {
        if (privately_owned(g)) {
            *acc = g;
            return 0;
        }
        *acc = tn_clone(g);
        tn_release(g);
        return *acc ? 0 : -1;
    }
    int rc;
    if (tn_same_shape(*acc, g)) {
        rc = tn_binary_(TN_B_ADD, *acc, g);
    } else {
        tn_tensor *s = tn_add(*acc, g);
        rc = s ? 0 : -1;
        if (s) {
            tn_release(*acc);
            *acc = s;
        }
    }
    tn_release(g);
    return rc;
}

/* leaf.grad += g (taking the reference to g); a new .grad never aliases a
 * tensor anyone else holds, since users may keep and modify .grad. */
static int accumulate_leaf(tn_tensor *leaf, tn_tensor *g) {
    if (leaf->grad && !tn_same_shape(leaf->grad, g)) {
        tn_release(leaf->grad);
        leaf->grad = NULL;
    }
    return accumulate(&leaf->grad, g);
}

int tn_backward(tn_tensor *root, tn_tensor *grad, bool retain_graph) {
    if (!root->requires_grad) {
        tn_error("backward: the tensor does not require grad and has no grad_fn "
                 "(did you call requires_grad_() on the inputs, or run under no_grad?)");
        return -1;
    }
    bool was = tn_set_grad_enabled(false);
    tn_tensor *g;
    if (grad) {
        if (!tn_same_shape(grad, root)) {
            char s1[128], s2[128];
            tn_error("backward: gradient of shape %s does not match the tensor's shape %s",
                     tn_shape_str(grad->shape, grad->ndim, s1, sizeof s1),
                     tn_shape_str(root->shape, root->ndim, s2, sizeof s2));
            tn_set_grad_enabled(was);
            return -1;
        }
        g = tn_to(grad, root->dtype);
    } else {
        if (root->numel != 1) {
            char s1[128];
            tn_error("backward: a gradient can be created implicitly only for a tensor with one "
                     "element; this one has shape %s (pass a gradient, e.g. t:backward(ember.ones_like(t)))",
                     tn_shape_str(root->shape, root->ndim, s1, sizeof s1));
            tn_set_grad_enabled(was);
            return -1;
        }
        g = tn_ones(root->dtype, root->ndim, root->shape);
    }
    if (!g) {
        tn_set_grad_enabled(was);
        return -1;
    }
    if (!root->grad_fn) {  /* a leaf */
        int rc = accumulate_leaf(root, g);
        tn_set_grad_enabled(was);
        return rc;
    }
    node_vec order = {0};
    int rc = topo_sort(root->grad_fn, &order);
    for (int64_t i = 0; rc == 0 && i < order.n; i++)
        if (order.v[i]->released) {
            tn_error("backward: trying to backward through the graph a second time (its saved "
                     "tensors were freed by the first backward); pass {retain_graph=true} to the "
                     "first backward to keep them");
            rc = -1;
        }
    if (rc == 0) root->grad_fn->grad_acc = g;
    else tn_release(g);
    /* walk consumers before producers */
    for (int64_t k = order.n - 1; rc == 0 && k >= 0; k--) {
        tn_node *n = order.v[k];
        tn_tensor *gout = n->grad_acc;
        n->grad_acc = NULL;
        if (!gout) continue;
        if (tn_interrupted()) {
            tn_error("interrupted");
            rc = -1;
        }
        tn_tensor *gin[TN_NODE_MAX_INPUTS] = {0};
        if (rc == 0 && n->backward(n, gout, gin) < 0) rc = -1;
        /* drop our reference to the output gradient first, so a rule that
         * passes it through (add: gin = g) hands over a private tensor */
        tn_release(gout);
        for (int i = 0; rc == 0 && i < n->ninputs; i++) {
            tn_edge *e = &n->edges[i];
            if (!gin[i] || (!e->fn && !e->leaf)) continue;
            tn_tensor *fit = fit_to_edge(n, i, gin[i]);
            tn_release(gin[i]);
            gin[i] = NULL;
            if (!fit) { rc = -1; break; }
            rc = e->fn ? accumulate(&e->fn->grad_acc, fit) : accumulate_leaf(e->leaf, fit);
        }
        for (int i = 0; i < n->ninputs; i++) tn_release(gin[i]);
        if (rc == 0 && !retain_graph) free_saved(n);
    }
    /* on error, drop partial gradients so the next backward starts clean */
    for (int64_t k = 0; k < order.n; k++)
        if (order.v[k]->grad_acc) {
            tn_release(order.v[k]->grad_acc);
            order.v[k]->grad_acc = NULL;
        }
    free(order.v);
    tn_set_grad_enabled(was);
    return rc;
}

/* ---------- gradient check ---------- */

/* loss = sum(out * R) for a fixed pseudo-random R in [0.5, 1.5) (seeded
 * independently of the global stream, so checks do not disturb it). */
static tn_tensor *projection(tn_tensor *out) {
    tn_tensor *r = tn_empty(TN_FLOAT64, out->ndim, out->shape);
    if (!r) return NULL;
    double *p = r->storage->data;
    for (int64_t i = 0; i < r->numel; i++) p[i] = 0.5 + tn_rng_uniform01(0x5eed, (uint64_t)i);
    return r;
}

static int projected_loss(tn_gradcheck_fn fn, void *ctx, tn_tensor **inputs, tn_tensor *R,
                          double *value, tn_tensor **loss_out) {
    tn_tensor *out = fn(ctx, inputs);
    if (!out) return -1;
    tn_tensor *o64 = tn_to(out, TN_FLOAT64);
    tn_release(out);
    if (!o64) return -1;
    tn_tensor *prod = tn_mul(o64, R);
    tn_release(o64);
    if (!prod) return -1;
    tn_tensor *loss = tn_sum(prod, TN_ALL_DIMS, false);
    tn_release(prod);
    if (!loss) return -1;
    *value = tn_item(loss);
    if (loss_out) *loss_out = loss;
    else tn_release(loss);
    return 0;
}

int tn_gradcheck(tn_gradcheck_fn fn, void *ctx, int n, tn_tensor **inputs, double eps, double atol,
                 double rtol) {
    for (int i = 0; i < n; i++) {
        if (inputs[i]->requires_grad && (inputs[i]->dtype != TN_FLOAT64 || !tn_is_contiguous(inputs[i]))) {
            tn_error("gradcheck: input %d must be a contiguous float64 tensor", i + 1);
            return -1;
        }
        if (inputs[i]->grad) {
            tn_release(inputs[i]->grad);
            inputs[i]->grad = NULL;
        }
    }
    /* shape of the output, for the projection */
    bool was = tn_set_grad_enabled(false);
    tn_tensor *probe = fn(ctx, inputs);
    tn_set_grad_enabled(was);
    if (!probe) return -1;
    tn_tensor *R = projection(probe);
    tn_release(probe);
    if (!R) return -1;
    double v;
    tn_tensor *loss = NULL;
    int rc = -1;
    was = tn_set_grad_enabled(true);
    if (projected_loss(fn, ctx, inputs, R, &v, &loss) < 0) goto done;
    if (!loss->requires_grad) {
        tn_error("gradcheck: the output does not require grad");
        goto done;
    }
    if (tn_backward(loss, NULL, false) < 0) goto done;
    tn_set_grad_enabled(false);
    for (int i = 0; i < n; i++) {
        tn_tensor *x = inputs[i];
        if (!x->requires_grad) continue;
        double *p = tn_data(x);
        for (int64_t j = 0; j < x->numel; j++) {
            double orig = p[j], fp, fm;
            p[j] = orig + eps;
            if (projected_loss(fn, ctx, inputs, R, &fp, NULL) < 0) goto done;
            p[j] = orig - eps;
            if (projected_loss(fn, ctx, inputs, R, &fm, NULL) < 0) goto done;
            p[j] = orig;
            double num = (fp - fm) / (2 * eps);
            double ana = x->grad ? tn_get_flat(x->grad, j) : 0.0;
            if (!(fabs(num - ana) <= atol + rtol * fabs(num))) {
                tn_error("gradcheck: input %d, element %lld: analytic %.8g vs numeric %.8g", i + 1,
                         (long long)j + 1, ana, num);
                goto done;
            }
        }
    }
    rc = 0;
done:
    tn_set_grad_enabled(was);
    tn_release(loss);
    tn_release(R);
    return rc;
}
