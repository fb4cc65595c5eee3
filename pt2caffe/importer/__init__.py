"""``pt2caffe import``: a Caffe model's weights into the user's own PyTorch definition, exactly.

The model is lowered as ``run`` would lower it (pt2caffe.conversion); that net and the user's are
paired by data flow (units, matching), Caffe's conventions are undone (conventions), the lowering is
inverted back to state_dict keys (inversion), and both models run on one input to prove it (proof,
diagnosis). api.import_model is the command's entry point; cli/import_model.py prints.
"""
