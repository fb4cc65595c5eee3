"""Lowering: the op graph (pt2caffe.graph) to a Caffe net (pt2caffe.net), one handler per op kind.

* :mod:`.loop`: ``lower()``, the loop over the ops;
* :mod:`.context`: ``OpContext``, what a handler sees;
* :mod:`.registry`: ``@handles``, the handler registry and the modules traced as one op;
* :mod:`.ops`: the handlers, one file per op family;
* :mod:`.compose`: the exact compositions the families share.
"""
