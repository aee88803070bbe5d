"""Kafka client for the Kafka source's tests (confluent-kafka, librdkafka 2.12+).

    kafka_client.py BROKER produce TOPIC TAG FIRST COUNT PAD
        produces <TAG><i><PAD bytes of p>\n for i in FIRST..FIRST+COUNT, keyed by
        i, and waits for every delivery report: {"produced": n, "failed": n}
    kafka_client.py BROKER produce-big TOPIC BYTES
        one record of BYTES bytes (x..., a newline last)
    kafka_client.py BROKER committed TOPIC GROUP
        the group's committed offsets: {"<partition>": offset}
"""

import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition


def produce(broker, topic, tag, first, count, pad):
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 20, "message.max.bytes": 2000000})
    failed = []

    def report(err, _msg):
        if err is not None:
            failed.append(str(err))

    padding = "p" * pad
    for i in range(first, first + count):
        while True:
            try:
                producer.produce(topic, key=str(i), value=f"{tag}{i}{padding}\n", on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(60)
    return {"produced": count - len(failed) - left, "failed": len(failed) + left, "errors": failed[:5]}


def produce_big(broker, topic, size):
    producer = Producer({"bootstrap.servers": broker, "message.max.bytes": size + 100000})
    failed = []
    producer.produce(topic, value=b"x" * (size - 1) + b"\n", on_delivery=lambda e, _m: e and failed.append(str(e)))
    left = producer.flush(60)
    return {"failed": len(failed) + left, "errors": failed}


def committed(broker, topic, group):
    consumer = Consumer({"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False})
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
    answer = {str(tp.partition): tp.offset for tp in consumer.committed(partitions, timeout=10) if tp.offset >= 0}
    consumer.close()
    return answer


def main():
    broker, command = sys.argv[1], sys.argv[2]
    if command == "produce":
        topic, tag, first, count, pad = sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
        print(json.dumps(produce(broker, topic, tag, first, count, pad)))
    elif command == "produce-big":
        print(json.dumps(produce_big(broker, sys.argv[3], int(sys.argv[4]))))
    elif command == "committed":
        print(json.dumps(committed(broker, sys.argv[3], sys.argv[4])))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
