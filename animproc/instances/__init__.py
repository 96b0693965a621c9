"""Character instances: segmentation proposals, category prediction, occlusion and inpainting."""
