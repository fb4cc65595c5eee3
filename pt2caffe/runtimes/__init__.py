"""Running Caffe nets, each in a child process (Caffe aborts the whole process on a bad net): the
reference pycaffe, OpenCV's dnn and MNN (:mod:`.launch`, whose child side is :mod:`.worker`), the
Docker image (:mod:`.docker`), one dispatch for ``check`` (:mod:`.backends`), and the measured layer
forms each runtime accepts (:mod:`.forms`)."""
