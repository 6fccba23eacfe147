"""A tiny MapReduce job for checking that mrjob's hadoop runner works on the test cluster."""
import re

from mrjob.job import MRJob

WORD = re.compile(r"[\w']+")


class MRWordCount(MRJob):
    def mapper(self, _, line):
        self.increment_counter('words', 'lines')
        for word in WORD.findall(line.lower()):
            yield word, 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        yield word, sum(counts)


if __name__ == '__main__':
    MRWordCount.run()
