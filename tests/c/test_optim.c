/*
 * test_optim.c: Check suite for nn/optim.c, the fused optimizer steps.
 *
 * Each optimizer runs 5 steps with changing gradients and is compared after
 * every step with a plain per-element reference written from the algorithm
 * boxes of the PyTorch 1.13 documentation (torch.optim.SGD, Adam, AdamW,
 * RMSprop, Adagrad), in double: float64 parameters must agree to 1e-12,
 * float32 ones to 1e-5 relative.  One deviation from the Adam doc box is
 * PyTorch's own: with amsgrad the code keeps the running maximum of the raw
 * second moment v (then divides by the bias correction), not of v-hat; the
 * reference does the same.  Also: thread-count independence on a large
 * tensor, storage version bumps, and argument errors.
 */
#include "helpers.h"

#include <string.h>

#include "nn/nn.h"

enum { SGD, ADAM, RMSPROP, ADAGRAD };

typedef struct {
    const char *name;
    int kind;
    nn_sgd_opts sgd;
    nn_adam_opts adam;
    nn_rmsprop_opts rms;
    nn_adagrad_opts ada;
    double init_acc;      /* Adagrad's initial_accumulator_value */
} opt_case;

/* The gradient of element i at step t (1-based): changes sign and scale so
 * amsgrad's maximum and the momentum terms matter. */
static double grad_at(int64_t i, int t) {
    return sin(1.3 * (double)i + 2.1 * t) * (t % 2 ? 0.2 : 1.5) + 0.01 * (double)(i % 3);
}

/* One step of the reference on one element; s[0..2] are the state values. */
static void ref_step(const opt_case *c, double *p, double g, double *s, int t) {
    switch (c->kind) {
    case SGD: {
        /* g = g + wd p; b = g (t = 1) | mu b + (1 - tau) g; g = nesterov ? g + mu b : b; p -= lr g */
        const nn_sgd_opts *o = &c->sgd;
        g += o->weight_decay * *p;
        if (o->momentum != 0) {
            s[0] = t == 1 ? g : o->momentum * s[0] + (1 - o->dampening) * g;
            g = o->nesterov ? g + o->momentum * s[0] : s[0];
        }
        *p -= o->lr * g;
        break;
    }
    case ADAM: {
        /* adamw: p *= 1 - lr wd | adam: g += wd p; m, v moving averages; m^ = m / (1 - b1^t);
         * v^ = v / (1 - b2^t) (amsgrad: vmax = max(vmax, v) replaces v); p -= lr m^ / (sqrt(v^) + eps) */
        const nn_adam_opts *o = &c->adam;
        if (o->decoupled) *p *= 1 - o->lr * o->weight_decay;
        else g += o->weight_decay * *p;
        s[0] = o->beta1 * s[0] + (1 - o->beta1) * g;
        s[1] = o->beta2 * s[1] + (1 - o->beta2) * g * g;
        double mhat = s[0] / (1 - pow(o->beta1, t)), v = s[1];
        if (o->amsgrad) {
            s[2] = fmax(s[2], s[1]);
            v = s[2];
        }
        double vhat = v / (1 - pow(o->beta2, t));
        *p -= o->lr * mhat / (sqrt(vhat) + o->eps);
        break;
    }
    case RMSPROP: {
        /* g += wd p; v = a v + (1 - a) g^2; centered: ga = a ga + (1 - a) g, v~ = v - ga^2;
         * momentum: b = mu b + g / (sqrt(v~) + eps), p -= lr b; else p -= lr g / (sqrt(v~) + eps) */
        const nn_rmsprop_opts *o = &c->rms;
        g += o->weight_decay * *p;
        s[0] = o->alpha * s[0] + (1 - o->alpha) * g * g;
        double vt = s[0];
        if (o->centered) {
            s[2] = o->alpha * s[2] + (1 - o->alpha) * g;
            vt -= s[2] * s[2];
        }
        if (o->momentum > 0) {
            s[1] = o->momentum * s[1] + g / (sqrt(vt) + o->eps);
            *p -= o->lr * s[1];
        } else {
            *p -= o->lr * g / (sqrt(vt) + o->eps);
        }
        break;
    }
    case ADAGRAD: {
        /* clr = lr / (1 + (t - 1) eta); g += wd p; sum += g^2; p -= clr g / (sqrt(sum) + eps) */
        const nn_adagrad_opts *o = &c->ada;
        double clr = o->lr / (1 + (t - 1) * o->lr_decay);
        g += o->weight_decay * *p;
        s[0] += g * g;
        *p -= clr * g / (sqrt(s[0]) + o->eps);
        break;
    }
    }
}

/* Runs one fused step of case c on tensors p (param), g (grad), st[3] (state). */
static int fused_step(const opt_case *c, tn_tensor *p, tn_tensor *g, tn_tensor **st, int t) {
    switch (c->kind) {
    case SGD: return nn_sgd_step(p, g, st[0], t == 1, &c->sgd);
    case ADAM: return nn_adam_step(p, g, st[0], st[1], st[2], t, &c->adam);
    case RMSPROP: return nn_rmsprop_step(p, g, st[0], st[1], st[2], &c->rms);
    default: return nn_adagrad_step(p, g, st[0], t, &c->ada);
    }
}

/* 5 steps on n elements of dtype dt, compared after each step. */
static void run_case(const opt_case *c, tn_dtype dt, int64_t n) {
    tn_manual_seed(21);
    tn_tensor *p = tn_randn(dt, 1, &n), *g = tn_empty(dt, 1, &n);
    tn_tensor *st[3];
    for (int k = 0; k < 3; k++) st[k] = tn_full(dt, 1, &n, c->kind == ADAGRAD && k == 0 ? c->init_acc : 0);
    double *rp = malloc(sizeof(double) * (size_t)n), *rs = calloc(3 * (size_t)n, sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        rp[i] = tn_get_flat(p, i);
        rs[3 * i] = tn_get_flat(st[0], i);
    }
    double tol = dt == TN_FLOAT64 ? 1e-12 : 1e-5;
    for (int t = 1; t <= 5; t++) {
        for (int64_t i = 0; i < n; i++) {
            tn_store(dt, tn_data(g), i, grad_at(i, t));
            ref_step(c, &rp[i], tn_get_flat(g, i), &rs[3 * i], t);
        }
        uint32_t v0 = p->storage->version;
        ck_assert_msg(fused_step(c, p, g, st, t) == 0, "%s: %s", c->name, tn_last_error());
        ck_assert_uint_gt(p->storage->version, v0);
        for (int64_t i = 0; i < n; i++) {
            double got = tn_get_flat(p, i);
            ck_assert_msg(fabs(got - rp[i]) <= tol * (1 + fabs(rp[i])),
                          "%s (%s) step %d element %lld: got %.12g, reference %.12g", c->name,
                          tn_dtype_name(dt), t, (long long)i, got, rp[i]);
        }
    }
    free(rp);
    free(rs);
    tn_release(p);
    tn_release(g);
    for (int k = 0; k < 3; k++) tn_release(st[k]);
}

static const opt_case cases[] = {
    {"sgd", SGD, .sgd = {.lr = 0.1}},
    {"sgd weight_decay", SGD, .sgd = {.lr = 0.1, .weight_decay = 0.05}},
    {"sgd momentum", SGD, .sgd = {.lr = 0.1, .momentum = 0.9}},
    {"sgd momentum dampening", SGD, .sgd = {.lr = 0.05, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.01}},
    {"sgd nesterov", SGD, .sgd = {.lr = 0.05, .momentum = 0.8, .weight_decay = 0.02, .nesterov = true}},
    {"adam", ADAM, .adam = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}},
    {"adam weight_decay", ADAM, .adam = {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1}},
    {"adam amsgrad", ADAM, .adam = {.lr = 0.02, .beta1 = 0.9, .beta2 = 0.9, .eps = 1e-8, .amsgrad = true}},
    {"adamw", ADAM, .adam = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1, .decoupled = true}},
    {"adamw amsgrad", ADAM, .adam = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.9, .eps = 1e-8, .weight_decay = 0.01,
                                     .amsgrad = true, .decoupled = true}},
    {"rmsprop", RMSPROP, .rms = {.lr = 0.01, .alpha = 0.99, .eps = 1e-8}},
    {"rmsprop centered", RMSPROP, .rms = {.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .centered = true}},
    {"rmsprop momentum", RMSPROP, .rms = {.lr = 0.01, .alpha = 0.99, .eps = 1e-8, .momentum = 0.5}},
    {"rmsprop all", RMSPROP, .rms = {.lr = 0.01, .alpha = 0.9, .eps = 1e-6, .weight_decay = 0.1,
                                     .momentum = 0.7, .centered = true}},
    {"adagrad", ADAGRAD, .ada = {.lr = 0.1, .eps = 1e-10}},
    {"adagrad decay", ADAGRAD, .ada = {.lr = 0.1, .lr_decay = 0.1, .weight_decay = 0.05, .eps = 1e-10}, .init_acc = 0.5},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

START_TEST(test_steps_float64) {
    for (int i = 0; i < NCASES; i++) run_case(&cases[i], TN_FLOAT64, 13);
}
END_TEST

START_TEST(test_steps_float32) {
    for (int i = 0; i < NCASES; i++) run_case(&cases[i], TN_FLOAT32, 13);
}
END_TEST

START_TEST(test_steps_large_parallel) {
    /* several parallel chunks; the result must not depend on the thread count */
    int64_t n = 100003;
    for (int i = 0; i < NCASES; i++) {
        tn_tensor *p[2], *st[2][3];
        tn_tensor *g = tn_empty(TN_FLOAT32, 1, &n);
        for (int64_t j = 0; j < n; j++) ((float *)tn_data(g))[j] = (float)grad_at(j, 1);
        for (int k = 0; k < 2; k++) {
            tn_set_num_threads(k + 1);
            tn_manual_seed(22);
            p[k] = tn_randn(TN_FLOAT32, 1, &n);
            for (int s = 0; s < 3; s++) st[k][s] = tn_full(TN_FLOAT32, 1, &n, 0.25);
            for (int t = 1; t <= 3; t++) ck_assert_int_eq(fused_step(&cases[i], p[k], g, st[k], t), 0);
        }
        ck_assert_msg(memcmp(tn_data(p[0]), tn_data(p[1]), sizeof(float) * (size_t)n) == 0, "%s", cases[i].name);
        for (int k = 0; k < 2; k++) {
            tn_release(p[k]);
            for (int s = 0; s < 3; s++) tn_release(st[k][s]);
        }
        tn_release(g);
    }
    /* and the large float64 run agrees with the reference */
    run_case(&cases[5], TN_FLOAT64, 40000);
    run_case(&cases[13], TN_FLOAT64, 40000);
}
END_TEST

START_TEST(test_adam_first_step_is_sign_times_lr) {
    /* a classic check: Adam's first step moves every element by lr * sign(g)
     * (up to eps), whatever the gradient's magnitude */
    tn_tensor *p = T1(TN_FLOAT64, 3, {1, 1, 1}), *g = T1(TN_FLOAT64, 3, {1e-3, -5, 100});
    tn_tensor *m = tn_zeros(TN_FLOAT64, 1, (int64_t[]){3}), *v = tn_zeros(TN_FLOAT64, 1, (int64_t[]){3});
    nn_adam_opts o = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-12};
    ck_assert_int_eq(nn_adam_step(p, g, m, v, NULL, 1, &o), 0);
    EXPECT(p, 1e-9, {0.9, 1.1, 0.9});
    tn_release(p);
    tn_release(g);
    tn_release(m);
    tn_release(v);
}
END_TEST

/* Parameters after 5 steps as printed by PyTorch 1.13.0 (Debian python3-torch),
 * float64, p0 = 0.5 i - 1 for i = 0..4, gradients grad_at(i, t):
 *   p = torch.tensor([0.5*i-1 for i in range(5)], dtype=torch.float64, requires_grad=True)
 *   opt = torch.optim.X([p], **opts)
 *   for t in 1..5: p.grad = torch.tensor([grad_at(i,t) ...]); opt.step()
 * with, row by row: SGD(lr=0.05, momentum=0.8, weight_decay=0.02, nesterov=True);
 * SGD(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01);
 * Adam(lr=0.02, betas=(0.9,0.9), eps=1e-8, amsgrad=True, weight_decay=0.05);
 * AdamW(lr=0.01, betas=(0.9,0.9), eps=1e-8, weight_decay=0.1, amsgrad=True);
 * RMSprop(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.7, centered=True);
 * Adagrad(lr=0.1, lr_decay=0.1, weight_decay=0.05, eps=1e-10, initial_accumulator_value=0.5). */
START_TEST(test_against_pytorch) {
    static const double want[6][5] = {
        {-0.93961496457696, -0.279973670696229, 0.0573285352876126, 0.311140844560162, 0.809957849388151},
        {-0.95226264190961, -0.351283814309305, 0.0280091206670435, 0.366633303939449, 0.881193672783223},
        {-0.997031936563988, -0.432317061688889, 0.00844567314813324, 0.485176929833372, 0.932305448713535},
        {-0.995374580393805, -0.464735772104049, 0.00422218707320566, 0.49098291836866, 0.966156964030214},
        {-1.0344130769536, -0.305481530431516, 0.0466501192198063, 0.519872535332399, 0.824359623470401},
        {-0.974442498754106, -0.395266385701072, 0.00747155156914561, 0.436353157373782, 0.900692865503168}
    };
    static const opt_case pt[6] = {
        {"sgd nesterov", SGD, .sgd = {.lr = 0.05, .momentum = 0.8, .weight_decay = 0.02, .nesterov = true}},
        {"sgd dampening", SGD, .sgd = {.lr = 0.05, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.01}},
        {"adam amsgrad wd", ADAM, .adam = {.lr = 0.02, .beta1 = 0.9, .beta2 = 0.9, .eps = 1e-8, .weight_decay = 0.05,
                                           .amsgrad = true}},
        {"adamw amsgrad", ADAM, .adam = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.9, .eps = 1e-8, .weight_decay = 0.1,
                                         .amsgrad = true, .decoupled = true}},
        {"rmsprop all", RMSPROP, .rms = {.lr = 0.01, .alpha = 0.9, .eps = 1e-6, .weight_decay = 0.1, .momentum = 0.7,
                                         .centered = true}},
        {"adagrad", ADAGRAD, .ada = {.lr = 0.1, .lr_decay = 0.1, .weight_decay = 0.05, .eps = 1e-10}, .init_acc = 0.5},
    };
    int64_t n = 5;
    for (int c = 0; c < 6; c++) {
        tn_tensor *p = tn_empty(TN_FLOAT64, 1, &n), *g = tn_empty(TN_FLOAT64, 1, &n), *st[3];
        for (int k = 0; k < 3; k++) st[k] = tn_full(TN_FLOAT64, 1, &n, pt[c].kind == ADAGRAD && k == 0 ? 0.5 : 0);
        for (int64_t i = 0; i < n; i++) ((double *)tn_data(p))[i] = 0.5 * (double)i - 1;
        for (int t = 1; t <= 5; t++) {
            for (int64_t i = 0; i < n; i++) ((double *)tn_data(g))[i] = grad_at(i, t);
            ck_assert_int_eq(fused_step(&pt[c], p, g, st, t), 0);
        }
        for (int64_t i = 0; i < n; i++)
            ck_assert_msg(fabs(tn_get_flat(p, i) - want[c][i]) < 1e-12, "%s element %lld: %.15g vs torch %.15g",
                          pt[c].name, (long long)i, tn_get_flat(p, i), want[c][i]);
        tn_release(p);
        tn_release(g);
        for (int k = 0; k < 3; k++) tn_release(st[k]);
    }
}
END_TEST

START_TEST(test_errors) {
    tn_tensor *p = tn_zeros(TN_FLOAT32, 1, (int64_t[]){4}), *g = tn_zeros(TN_FLOAT32, 1, (int64_t[]){4});
    tn_tensor *g3 = tn_zeros(TN_FLOAT32, 1, (int64_t[]){3}), *g64 = tn_zeros(TN_FLOAT64, 1, (int64_t[]){4});
    tn_tensor *pi = tn_zeros(TN_INT64, 1, (int64_t[]){4});
    tn_tensor *big = tn_zeros(TN_FLOAT32, 2, (int64_t[]){4, 2});
    tn_tensor *nc = tn_select(big, 1, 0);   /* 4 elements at stride 2 */
    nn_sgd_opts sgd = {.lr = 0.1};
    ck_assert_int_eq(nn_sgd_step(p, g3, NULL, false, &sgd), -1);
    ck_assert(strstr(tn_last_error(), "sgd: the gradient has shape [3] but the parameter has shape [4]"));
    ck_assert_int_eq(nn_sgd_step(p, g64, NULL, false, &sgd), -1);
    ck_assert(strstr(tn_last_error(), "the gradient is float64 but the parameter is float32"));
    ck_assert_int_eq(nn_sgd_step(pi, pi, NULL, false, &sgd), -1);
    ck_assert(strstr(tn_last_error(), "float32 or float64, got int64"));
    ck_assert_int_eq(nn_sgd_step(nc, g, NULL, false, &sgd), -1);
    ck_assert(strstr(tn_last_error(), "must be contiguous"));
    nn_sgd_opts mom = {.lr = 0.1, .momentum = 0.9};
    ck_assert_int_eq(nn_sgd_step(p, g, NULL, true, &mom), -1);
    ck_assert(strstr(tn_last_error(), "momentum_buffer is missing"));
    nn_sgd_opts nest = {.lr = 0.1, .nesterov = true};
    ck_assert_int_eq(nn_sgd_step(p, g, NULL, true, &nest), -1);
    ck_assert(strstr(tn_last_error(), "nesterov"));
    nn_sgd_opts neg = {.lr = -1};
    ck_assert_int_eq(nn_sgd_step(p, g, NULL, true, &neg), -1);
    ck_assert(strstr(tn_last_error(), "sgd: invalid lr -1"));
    nn_adam_opts ad = {.lr = 0.1, .beta1 = 1.0, .beta2 = 0.999, .eps = 1e-8};
    ck_assert_int_eq(nn_adam_step(p, g, g, g, NULL, 1, &ad), -1);
    ck_assert(strstr(tn_last_error(), "adam: invalid betas (1, 0.999)"));
    ad.beta1 = 0.9;
    ck_assert_int_eq(nn_adam_step(p, g, g3, g, NULL, 1, &ad), -1);
    ck_assert(strstr(tn_last_error(), "adam: exp_avg has shape [3]"));
    ck_assert_int_eq(nn_adam_step(p, g, g, g, NULL, 0, &ad), -1);
    ck_assert(strstr(tn_last_error(), "step must be >= 1"));
    ad.amsgrad = ad.decoupled = true;
    ck_assert_int_eq(nn_adam_step(p, g, g, g, NULL, 1, &ad), -1);
    ck_assert(strstr(tn_last_error(), "adamw: max_exp_avg_sq is missing"));
    nn_rmsprop_opts rms = {.lr = 0.1, .alpha = 0.99, .eps = 1e-8, .centered = true};
    ck_assert_int_eq(nn_rmsprop_step(p, g, g, NULL, NULL, &rms), -1);
    ck_assert(strstr(tn_last_error(), "rmsprop: grad_avg is missing"));
    nn_adagrad_opts ada = {.lr = 0.1, .eps = 1e-10, .lr_decay = -1};
    ck_assert_int_eq(nn_adagrad_step(p, g, g, 1, &ada), -1);
    ck_assert(strstr(tn_last_error(), "adagrad: invalid lr_decay -1"));
    tn_release(p);
    tn_release(g);
    tn_release(g3);
    tn_release(g64);
    tn_release(pi);
    tn_release(nc);
    tn_release(big);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_steps_float64);
    tcase_add_test(tc, test_steps_float32);
    tcase_add_test(tc, test_steps_large_parallel);
    tcase_add_test(tc, test_adam_first_step_is_sign_times_lr);
    tcase_add_test(tc, test_against_pytorch);
    tcase_add_test(tc, test_errors);
}

TN_SUITE_MAIN("optim", add_tests)
