from setuptools import find_packages, setup

setup(
    name='classroomkd_plugin',
    version='0.1.0',
    description='ClassroomKD (multi-mentor distillation) for MMPose, MMPretrain and timm',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['classroomkd_plugin', 'classroomkd_plugin.*']),
    python_requires='>=3.10',
    # The OpenMMLab stack needs a build step pip cannot express (mmcv with ops against
    # torch 2.14): tools/setup/install.sh installs it, pinned, before this package.
    install_requires=[],
    license='Apache-2.0',
)
