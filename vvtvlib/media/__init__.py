"""Media tools: FFmpeg discovery and frame grabbing (``ffmpeg``), deterministic test clips
(``clips``), frame comparison by perceptual hash, PSNR and SSIM (``compare``), what a file
is by its bytes (``sniff``) and frames sampled over a whole clip at a bounded cost
(``sampling``)."""
