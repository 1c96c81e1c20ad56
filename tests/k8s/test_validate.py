"""The strict validator: minimal true-to-CRD examples pass, and every kind of mistake fails."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from tests.k8s.schemas import cel_rules
from tests.k8s.validate import (
    CelRuleError, compile_rule, custom_resource_errors, skipped_transition_rules,
    validate_files, validate_objects)

EXAMPLES = {name: yaml.safe_load(text) for name, text in {
    "Kafka": """
        apiVersion: kafka.strimzi.io/v1
        kind: Kafka
        metadata: {name: retail-kafka, namespace: retail}
        spec:
          kafka:
            version: 4.3.1
            metadataVersion: 4.3-IV0
            listeners:
              - {name: plain, port: 9092, type: internal, tls: false}
            config: {offsets.topic.replication.factor: 1, min.insync.replicas: 1}
          entityOperator: {topicOperator: {}, userOperator: {}}
    """,
    "KafkaNodePool": """
        apiVersion: kafka.strimzi.io/v1
        kind: KafkaNodePool
        metadata: {name: dual-role, labels: {strimzi.io/cluster: retail-kafka}}
        spec:
          replicas: 1
          roles: [controller, broker]
          storage:
            type: jbod
            volumes:
              - {id: 0, type: persistent-claim, size: 10Gi, kraftMetadata: shared}
    """,
    "KafkaTopic": """
        apiVersion: kafka.strimzi.io/v1
        kind: KafkaTopic
        metadata: {name: retail-sales-transactions, labels: {strimzi.io/cluster: retail-kafka}}
        spec: {partitions: 6, replicas: 1, config: {retention.ms: 604800000}}
    """,
    "KafkaUser": """
        apiVersion: kafka.strimzi.io/v1
        kind: KafkaUser
        metadata: {name: pos-producer, labels: {strimzi.io/cluster: retail-kafka}}
        spec:
          authentication: {type: scram-sha-512}
          authorization:
            type: simple
            acls:
              - resource: {type: topic, name: retail-sales-transactions, patternType: literal}
                operations: [Write, Describe]
    """,
    "SparkApplication": """
        apiVersion: sparkoperator.k8s.io/v1beta2
        kind: SparkApplication
        metadata: {name: stream-processor, namespace: retail}
        spec:
          type: Python
          mode: cluster
          image: retail-platform/stream-processor:0.1.0
          mainApplicationFile: local:///opt/retail/jobs/stream_processor.py
          sparkVersion: 4.3.0
          restartPolicy: {type: Always}
          driver: {cores: 1, memory: 1g, serviceAccount: spark}
          executor: {cores: 1, instances: 1, memory: 1g}
    """,
    "ClickHouseInstallation": """
        apiVersion: clickhouse.altinity.com/v1
        kind: ClickHouseInstallation
        metadata: {name: retail}
        spec:
          configuration:
            settings: {max_concurrent_queries: 100}
            clusters:
              - {name: main, layout: {shardsCount: 1, replicasCount: 1}}
    """,
    "ClickHouseKeeperInstallation": """
        apiVersion: clickhouse-keeper.altinity.com/v1
        kind: ClickHouseKeeperInstallation
        metadata: {name: retail-keeper}
        spec:
          configuration:
            clusters:
              - {name: keeper, layout: {replicasCount: 3}}
    """,
    "Tenant": """
        apiVersion: minio.min.io/v2
        kind: Tenant
        metadata: {name: retail-lake}
        spec:
          buckets: [{name: retail-raw-data}]
          pools:
            - name: pool-0
              servers: 1
              volumesPerServer: 1
              volumeClaimTemplate:
                spec:
                  accessModes: [ReadWriteOnce]
                  resources: {requests: {storage: 10Gi}}
    """,
    "Deployment": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: pos-generator, namespace: retail}
        spec:
          selector: {matchLabels: {app: pos-generator}}
          template:
            metadata: {labels: {app: pos-generator}}
            spec:
              containers:
                - name: pos-generator
                  image: retail-platform/pos-generator:0.1.0
                  args: [simulate, --sink, kafka]
                  securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false}
    """,
}.items()}


def example(kind: str) -> dict:
    return yaml.safe_load(yaml.safe_dump(EXAMPLES[kind]))  # a fresh copy to edit


def at(obj: dict, dotted: str) -> dict:
    for part in dotted.split("."):
        obj = obj[int(part)] if part.isdigit() else obj[part]
    return obj


@pytest.mark.parametrize("kind", EXAMPLES)
def test_a_minimal_object_of_each_kind_passes(kind):
    assert validate_objects([example(kind)]) == []


@pytest.mark.parametrize(("kind", "parent", "typo"), [
    ("Kafka", "spec.kafka", "listner"),
    ("KafkaNodePool", "spec.storage.volumes.0", "deleteClam"),
    ("KafkaTopic", "spec", "partiton"),
    ("KafkaUser", "spec.authorization.acls.0.resource", "patern"),
    ("SparkApplication", "spec.driver", "serviceAcount"),
    ("ClickHouseInstallation", "spec.configuration.clusters.0.layout", "shardCount"),
    ("ClickHouseKeeperInstallation", "spec.configuration.clusters.0", "layuot"),
    ("Tenant", "spec.pools.0", "server"),
])
def test_a_typo_in_any_custom_resource_fails_naming_its_path(kind, parent, typo):
    obj = example(kind)
    at(obj, parent)[typo] = 1
    path = parent.replace(".0", "[0]")
    assert [e for e in validate_objects([obj]) if f": {path}.{typo}: unknown field" in e], \
        validate_objects([obj])


def test_a_misspelt_required_field_is_reported_as_missing_and_as_unknown_with_a_hint():
    obj = example("SparkApplication")
    obj["spec"]["sparkVersoin"] = obj["spec"].pop("sparkVersion")
    assert validate_objects([obj]) == [
        "SparkApplication/stream-processor: spec: 'sparkVersion' is a required property",
        "SparkApplication/stream-processor: spec.sparkVersoin: unknown field 'sparkVersoin' "
        "(did you mean 'sparkVersion'?)"]


def test_all_errors_of_a_custom_resource_are_reported_not_just_the_first():
    obj = example("Kafka")
    obj["spec"]["kafka"]["listeners"][0]["port"] = "9092"
    obj["spec"]["kafka"]["replicas"] = 3
    obj["metadata"]["labes"] = {}
    assert sorted(validate_objects([obj])) == [
        "Kafka/retail-kafka: metadata.labes: unknown field 'labes' (did you mean 'labels'?)",
        "Kafka/retail-kafka: spec.kafka.listeners[0].port: '9092' is not of type 'integer'",
        "Kafka/retail-kafka: spec.kafka.replicas: unknown field 'replicas' (allowed here: "
        "authorization, brokerRackInitImage, config, image, jmxOptions, jvmOptions, listeners, "
        "livenessProbe, logging, metadataVersion, metricsConfig, quotas, rack, readinessProbe, "
        "template, tieredStorage, version)"]


def test_a_wrong_type_fails():
    obj = example("SparkApplication")
    obj["spec"]["executor"]["instances"] = "2"
    assert validate_objects([obj]) == [
        "SparkApplication/stream-processor: spec.executor.instances: '2' is not of type 'integer'"]


def test_a_value_outside_the_enum_fails():
    obj = example("KafkaUser")
    obj["spec"]["authorization"]["acls"][0]["operations"] = ["Produce"]
    assert validate_objects([obj]) == [
        "KafkaUser/pos-producer: spec.authorization.acls[0].operations[0]: 'Produce' is not one "
        "of ['Read', 'Write', 'Create', 'Delete', 'Alter', 'Describe', 'ClusterAction', "
        "'AlterConfigs', 'DescribeConfigs', 'IdempotentWrite', 'All']"]


def test_fields_the_crd_leaves_open_accept_anything():
    obj = example("ClickHouseInstallation")
    obj["spec"]["configuration"]["settings"]["any/nested/setting"] = {"deep": [1, 2]}
    topic = example("KafkaTopic")
    topic["spec"]["config"]["cleanup.policy"] = "compact"
    assert validate_objects([obj, topic]) == []


def test_a_cel_rule_of_kafka_user_is_evaluated_and_fails_with_its_message():
    obj = example("KafkaUser")
    obj["spec"]["authentication"]["validityDays"] = 30
    assert validate_objects([obj]) == [
        "KafkaUser/pos-producer: spec.authentication: 'validityDays' and 'renewalDays' can be "
        "configured only with 'type: tls'"]


def test_a_cel_rule_comparing_two_fields_passes_and_fails_on_their_values():
    obj = example("KafkaUser")
    obj["spec"]["authentication"] = {"type": "tls", "validityDays": 30, "renewalDays": 10}
    assert validate_objects([obj]) == []
    obj["spec"]["authentication"]["renewalDays"] = 60
    assert validate_objects([obj]) == [
        "KafkaUser/pos-producer: spec.authentication: 'renewalDays' must be less than "
        "'validityDays'."]


def test_a_cel_rule_of_kafka_fails_when_a_required_companion_field_is_missing():
    obj = example("Kafka")
    obj["spec"]["kafka"]["rack"] = {"type": "environment-variable"}
    errors = validate_objects([obj])
    assert len(errors) == 1 and errors[0].startswith(
        "Kafka/retail-kafka: spec.kafka.rack: envVarName property is required")
    obj["spec"]["kafka"]["rack"]["envVarName"] = "NODE_ZONE"
    assert validate_objects([obj]) == []


def test_the_crds_hold_the_cel_rules_sources_md_counts():
    assert Counter(rule.kind for rule in cel_rules()) == {"Kafka": 5, "KafkaUser": 3, "Tenant": 2}


def test_every_rule_that_can_run_offline_compiles_in_cel_python():
    runnable = [rule for rule in cel_rules() if rule not in skipped_transition_rules()]
    assert len(runnable) == 8
    for rule in runnable:
        compile_rule(rule.rule)


def test_exactly_the_two_tenant_transition_rules_are_skipped():
    assert [(r.kind, r.path, r.rule) for r in skipped_transition_rules()] == [
        ("Tenant", "spec.pools[].servers", "self == oldSelf"),
        ("Tenant", "spec.pools[].volumesPerServer", "self == oldSelf")]
    tenant = example("Tenant")
    tenant["spec"]["pools"].append({**tenant["spec"]["pools"][0], "name": "pool-1"})
    skipped: list[str] = []
    assert validate_objects([tenant], skipped=skipped) == []
    assert skipped == [f"Tenant/retail-lake: spec.pools[{i}].{field}: self == oldSelf"
                       for i in (0, 1) for field in ("servers", "volumesPerServer")]


@pytest.mark.parametrize(("rule", "reason"), [
    ("self.replicas >", "does not parse"),
    ("self.names.isSorted()", "calls isSorted, which cel-python does not provide"),
])
def test_a_rule_cel_python_cannot_compile_is_an_error_never_a_pass(rule, reason):
    with pytest.raises(CelRuleError, match=reason):
        compile_rule(rule)
    schema = {"type": "object", "properties": {"spec": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True,
        "x-kubernetes-validations": [{"rule": rule, "message": "never shown"}]}}}
    errors = custom_resource_errors({"metadata": {"name": "x"}, "spec": {}}, schema)
    assert len(errors) == 1 and errors[0].startswith("spec: CEL rule") and reason in errors[0]


def test_a_duplicate_key_in_a_map_list_fails_after_defaults_are_applied():
    tenant = example("Tenant")
    tenant["spec"]["pools"].append(tenant["spec"]["pools"][0])
    tenant["spec"]["initContainers"] = [{"name": "wait", "ports": [
        {"containerPort": 9000}, {"containerPort": 9000, "protocol": "TCP"}]}]
    assert validate_objects([tenant]) == [
        'Tenant/retail-lake: spec.pools: duplicate name "pool-0" (x-kubernetes-list-type map: '
        'each must be unique)',
        'Tenant/retail-lake: spec.initContainers[0].ports: duplicate containerPort/protocol '
        '9000, "TCP" (x-kubernetes-list-type map: each must be unique)']


def test_nullable_int_or_string_and_embedded_resources_follow_the_api_server():
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "note": {"type": "string", "nullable": True},
        "count": {"type": "integer"},
        "size": {"x-kubernetes-int-or-string": True},
        "mode": {"type": "string", "default": "fast", "x-kubernetes-validations": [
            {"rule": "self == 'fast'", "message": "mode must be fast"}]},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "properties": {"spec": {"type": "object", "properties": {
                         "image": {"type": "string"}}}}}},
        "required": ["mode"]}}}
    good = {"metadata": {"name": "ok"}, "spec": {"note": None, "size": "10Gi", "template": {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}},
        "spec": {"image": "x"}}}}
    assert custom_resource_errors(good, schema) == []
    template = {"metadata": {"labelz": {}}, "spec": {"imag": "x"}}
    bad = {"metadata": {"name": "ok"},
           "spec": {"size": 1.5, "count": None, "mode": "slow", "template": template}}
    assert sorted(custom_resource_errors(bad, schema)) == [
        "spec.count: None is not of type 'integer'",
        "spec.mode: mode must be fast",
        "spec.size: 1.5 is not of type 'integer', 'string'",
        "spec.template.metadata.labelz: unknown field 'labelz' (did you mean 'labels'?)",
        "spec.template.spec.imag: unknown field 'imag' (did you mean 'image'?)",
        "spec.template: 'apiVersion' is a required property",
        "spec.template: 'kind' is a required property"]


@pytest.mark.parametrize(("name", "error"), [
    ("Retail_Lake", "metadata.name: 'Retail_Lake' is not a DNS-1123 name"),
    (None, "metadata.name: missing"),
])
def test_a_custom_resource_needs_a_dns_1123_name(name, error):
    obj = example("Tenant")
    obj["metadata"]["name"] = name
    errors = validate_objects([obj])
    assert len(errors) == 1 and error in errors[0]


def test_a_built_in_object_with_an_unknown_field_fails():
    obj = example("Deployment")
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert validate_objects([obj]) == [
        "Deployment/pos-generator: spec.template.spec.containers[0].imagePullPolicyy: unknown "
        "field 'imagePullPolicyy' (did you mean 'imagePullPolicy'?)"]


def test_an_unknown_kind_fails_naming_it():
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert validate_objects([widget]) == [
        "Widget/w: (root): unknown apiVersion/kind example.com/v1 Widget: neither a Kubernetes "
        "1.33 built-in nor a pinned custom resource (check apiVersion and kind, or pin the "
        "operator's CRD in tests/k8s/schemas.py)"]


def test_an_api_version_the_crd_does_not_serve_fails_with_the_one_it_serves():
    kafka = {**example("Kafka"), "apiVersion": "kafka.strimzi.io/v1beta2"}
    errors = validate_objects([kafka])
    assert len(errors) == 1 and "the pinned CRD serves only kafka.strimzi.io/v1" in errors[0]


def test_a_document_without_api_version_and_kind_fails():
    assert validate_objects([{"metadata": {"name": "x"}}]) == [
        "object #1: not a Kubernetes object (it needs string apiVersion and kind)"]


def test_files_are_validated_document_by_document_with_the_file_named(tmp_path):
    good, bad, empty = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "empty.yaml"
    good.write_text(yaml.safe_dump_all([example("Tenant"), example("Deployment")]))
    typo = example("KafkaTopic")
    typo["spec"]["replica"] = 1
    bad.write_text("---\n" + yaml.safe_dump_all([example("Kafka"), typo]))
    empty.write_text("# nothing here\n")
    assert validate_files([good, bad, empty]) == [
        f"{bad}: KafkaTopic/retail-sales-transactions: spec.replica: unknown field 'replica' "
        "(did you mean 'replicas'?)",
        f"{empty}: holds no Kubernetes object"]


def test_an_unsupported_kubernetes_version_is_refused_with_the_supported_ones():
    with pytest.raises(ValueError, match="kube_version '1.12' is not covered"):
        validate_objects([example("Tenant")], kube_version="1.12")
