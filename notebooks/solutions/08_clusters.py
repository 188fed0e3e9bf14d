# One answer to notebook 08's last exercise: every cluster the endpoint remembers, and how it ended.
clusters = pd.DataFrame([{"name": c["Name"], "id": c["Id"], "state": c["Status"]["State"],
                          "reason": c["Status"]["StateChangeReason"].get("Code", ""),
                          "message": c["Status"]["StateChangeReason"].get("Message", "")}
                         for c in client.list_clusters()["Clusters"]])
clusters
# Every cluster of a DAG ends TERMINATED / USER_REQUEST: its terminate task ended it, also after the failed step.
# A cluster named `bench` (bench/emr_dag.py, if it ran on this lab) ends ALL_STEPS_COMPLETED: it was made with
# KeepJobFlowAliveWhenNoSteps=False, so EMR ended it itself after its last step. Clusters of earlier runs stay
# listed: the endpoint remembers them, as EMR does for two months. TERMINATED_WITH_ERRORS would mean a step with
# ActionOnFailure=TERMINATE_CLUSTER failed, or the endpoint was stopped while the cluster ran (INTERNAL_ERROR).
