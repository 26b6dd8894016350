from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTANCES = ROOT / "instances"


@pytest.fixture(scope="session")
def instances_dir() -> Path:
    return INSTANCES


# -- the quick subset ---------------------------------------------------------------------------------------
#: Tests marked ``slow`` (pyproject.toml registers the marker): those over ~2.5 s each, or whose parameters add up
#: to more, in a full run with -n 2 at load 4 on 2 cores (--durations=0); `python -m pytest -m "not slow"`
#: leaves a quick subset that still covers every family (README). Named here by file and function (every
#: parameter of the function), so that one measured list covers every file; a name that is no longer a test
#: function of its file stops the collection (see below), so the list cannot silently go stale.
SLOW = {
    "test_arrivals.py": {"test_em_recovers_a_known_mmpp", "test_a_fitted_mmpp_reproduces_the_traces_burstiness"},
    "test_architecture.py": {"test_generate_writes_a_loadable_instance",
                             "test_import_edgeopt_leaves_the_matplotlib_backend_alone"},
    "test_assignment_heuristics.py": {"test_history_is_the_best_so_far", "test_deterministic_per_seed",
                                      "test_paper_method_averages_within_one_percent_on_bundled_instances"},
    "test_backends.py": {"test_time_limit_returns_incumbent_and_bound"},
    "test_backends_together.py": {"test_imports_coexist_in_either_order"},
    "test_bundled.py": {"test_heuristics_feasible_and_never_beat_a_proof", "test_exact_backends_reproduce_reference",
                        "test_bundled_files_are_what_make_py_generates",
                        "test_deployment_reference_equals_the_algebraic_pyomo_model",
                        "test_every_bundled_instance_has_a_reference",
                        "test_assignment_set_is_as_representative_as_documented"},
    "test_cli.py": {"test_a_missing_optional_package_names_the_extra", "test_export_writes_a_model_highs_reads_back"},
    "test_compare.py": {"test_dask_gives_the_same_rows_as_local_workers", "test_cli_compare",
                        "test_a_hung_or_crashed_solver_does_not_stall_the_sweep"},
    "test_compare_cli.py": {"test_a_killed_sweep_resumes_with_only_the_missing_runs",
                            "test_cli_compare_writes_every_output_with_hand_checked_gaps",
                            "test_an_interrupted_compare_says_its_finished_runs_are_kept"},
    "test_conformance.py": {"test_solver_conforms", "test_family_conforms",
                            "test_a_solver_that_ignores_its_time_limit_is_caught"},
    "test_deployment_cuts.py": {"test_no_feasible_plan_is_cut_off"},
    "test_gap.py": {"test_every_exact_backend_reproduces_the_published_optimum",
                    "test_heuristics_feasible_never_better_than_the_optimum"},
    "test_gap_heuristics.py": {"test_feasible_and_never_better_than_the_optimum_on_tight_instances",
                               "test_same_seed_same_plan_under_an_iteration_budget"},
    "test_genetic.py": {"test_genetic_is_within_two_percent_of_the_proven_optimum",
                        "test_same_seed_same_plan_other_seed_other_search",
                        "test_the_largest_population_stops_at_the_time_limit_in_bounded_memory"},
    "test_heuristics.py": {"test_genetic_history", "test_heuristics_on_a_bundled_large_instance"},
    "test_installed.py": {"test_references_work_from_any_folder_after_install"},
    "test_interrupts.py": {"test_ctrl_c_stops_an_exact_backend", "test_ctrl_c_during_a_sweep_keeps_every_finished_run"},
    "test_linopy_deployment.py": {"test_same_columns_and_objective", "test_same_optimum"},
    "test_lns.py": {"test_lns_keeps_its_time_limit"},
    "test_offloading_exact.py": {"test_miqp_and_oa_agree_on_every_bundled_instance", "test_ctrl_c_stops_an_exact_method",
                                 "test_the_time_limit_is_honoured_with_a_valid_plan_and_bound",
                                 "test_miqp_and_oa_agree_and_the_bounds_hold"},
    "test_portfolio.py": {"test_the_time_limit_bounds_the_whole_call_on_large_2",
                          "test_the_same_seed_proves_the_same_plan_whatever_the_clones_speed"},
    "test_serving_properties.py": {"test_the_generator_makes_what_the_loader_accepts"},
    "test_offloading_rl.py": {"test_the_regime_benchmark_runs_in_quick_mode",
                              "test_the_papers_comparison_runs_in_quick_mode",
                              "test_the_same_problem_listed_in_another_order_gets_the_same_decisions_bit_for_bit",
                              "test_a_smoke_training_writes_a_policy_a_curve_and_its_plot",
                              "test_the_scenario_space_is_seeded_and_spans_its_ranges",
                              "test_edgeopt_train_writes_the_policy_its_curve_and_plot"},
    "test_papers_assignment.py": {"test_quick_run"},
    "test_papers_deployment.py": {"test_the_deployment_papers_comparison_runs_in_quick_mode"},
    "test_properties.py": {"test_extreme_valid_instances", "test_hostile_instance_files", "test_hostile_reference_files"},
    "test_pyomo_algebraic.py": {"test_pyomo_is_imported_before_the_clock_starts"},
    "test_reference_script.py": {"test_every_quick_reference_is_reproduced",
                                 "test_check_says_same_for_each_instance_and_exits_0",
                                 "test_the_file_holds_exactly_the_bundled_instances_with_their_hashes"},
    "test_rl.py": {"test_imitation_learns_the_experts_rows"},
    "test_serving.py": {"test_the_two_exact_methods_agree_on_bundled_instances",
                        "test_the_serving_benchmark_runs_in_quick_mode",
                        "test_exact_online_methods_keep_loaded_models_that_still_fit",
                        "test_the_generator_is_seeded_and_its_arrivals_are_bursty"},
    "test_serving_learned.py": {"test_training_is_reproducible_and_writes_its_learning_curve",
                                "test_collected_shaped_rewards_are_the_change_plus_discounted_potentials"},
    "test_tour.py": {"test_ctrl_c_keeps_the_finished_runs_and_a_rerun_does_only_the_rest"},
    "test_warm_start.py": {"test_a_backend_starts_from_the_plan_it_is_given",
                           "test_the_command_line_takes_a_solver_or_a_solution_file",
                           "test_an_infeasible_plan_is_not_a_start_and_the_solve_goes_on"},
}


@pytest.hookimpl(tryfirst=True)  # before -m selects on the marker
def pytest_collection_modifyitems(config, items):
    checked = set()
    for item in items:
        names = SLOW.get(item.path.name)
        if not names:
            continue
        if item.path.name not in checked:  # each listed name must still be a test function of its file
            checked.add(item.path.name)
            text = item.path.read_text(encoding="utf-8")
            stale = sorted(n for n in names if f"def {n}(" not in text)
            if stale:
                raise pytest.UsageError(f"tests/conftest.py SLOW names no test of {item.path.name}: {', '.join(stale)}")
        if getattr(item, "originalname", item.name) in names:
            item.add_marker(pytest.mark.slow)
