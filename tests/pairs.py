"""Shrinking built-in pair configs to test size (shared by pipeline and selection tests)."""


def shrink(cfg, n=192, test=48, epochs=1, **extra):
    upd = {"max_train_samples": n, "epochs": epochs, "batch_size": 32, "tensorboard": False}
    return cfg.model_copy(update={
        "teacher_train": cfg.teacher_train.model_copy(update=upd),
        "student_train": cfg.student_train.model_copy(update=upd),
        "transfer_train": cfg.transfer_train.model_copy(update=upd),
        "eval": cfg.eval.model_copy(update={"max_test_samples": test,
                                            "train_corruption_samples": test and test // 2,
                                            "cka_samples": test or 64}),
        **extra,
    })


def run_pair(cfg, out_dir, seed=0, methods=None):
    """Summary rows of one seed of ``cfg`` run end to end by the experiment runner."""
    from birdkit.experiments import PairRunner, seed_dir

    return PairRunner(cfg, seed_dir(out_dir, cfg.name, seed), seed=seed).run(methods).summary


def select(cfg, root, *, val_samples, **kw):
    """``select_hparams`` on the runner's teacher, student and splits in seed directory ``root``."""
    from birdkit.experiments import PairRunner
    from birdkit.selection import select_hparams

    r = PairRunner(cfg, root)
    train = r.split(cfg.student_data, "train", cfg.transfer_train.max_train_samples)
    val = r.split(cfg.student_data, "val", val_samples, norm_from=train)
    return select_hparams(cfg, teacher=r.teacher(), student=r.student(), train=train, val=val, run_dir=root, **kw)
