#include "common/media/frame_convert.h"

#include <cstring>

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/md5.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
}

namespace anifarm {
namespace {

constexpr int kRgbFlags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT;

struct AvFreeDeleter {
  void operator()(void* p) const { av_free(p); }
};

// swscale's coefficient tables are indexed by AVColorSpace for the matrices
// it knows; anything else (unspecified, reserved, exotic) gets the usual
// guess: BT.709 for HD, BT.601 for SD.
int SwsColorspace(const AVFrame& frame) {
  switch (frame.colorspace) {
    case AVCOL_SPC_BT709:
    case AVCOL_SPC_FCC:
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M:
    case AVCOL_SPC_SMPTE240M:
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
      return frame.colorspace;
    default:
      return frame.height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601;
  }
}

bool IsFullRange(const AVFrame& frame) {
  switch (frame.format) {
    case AV_PIX_FMT_YUVJ420P:
    case AV_PIX_FMT_YUVJ422P:
    case AV_PIX_FMT_YUVJ444P:
    case AV_PIX_FMT_YUVJ440P:
    case AV_PIX_FMT_YUVJ411P:
      return true;
    default:
      return frame.color_range == AVCOL_RANGE_JPEG;
  }
}

}  // namespace

absl::StatusOr<RgbImage> FrameToRgb(const AVFrame& frame) {
  const AVPixelFormat format = static_cast<AVPixelFormat>(frame.format);
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
  if (!desc || frame.width <= 0 || frame.height <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot convert a ", frame.width, "x",
                                                   frame.height, " frame of pixel format ",
                                                   desc ? desc->name : "none", " to RGB"));
  }
  // Sources with an alpha channel (PNG, ProRes 4444, QuickTime RLE...) keep
  // it: converted to RGBA, then split into the picture and its alpha plane.
  const bool alpha = (desc->flags & AV_PIX_FMT_FLAG_ALPHA) != 0;
  const AVPixelFormat target = alpha ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24;
  SwsPtr sws(sws_getContext(frame.width, frame.height, format, frame.width, frame.height,
                            target, kRgbFlags, nullptr, nullptr, nullptr));
  if (!sws) {
    return absl::InvalidArgumentError(
        absl::StrCat("no conversion from pixel format ", desc->name, " to RGB"));
  }
  // The matrix only applies to YUV sources; RGB and gray have none.
  if (!(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3) {
    const int* coefficients = sws_getCoefficients(SwsColorspace(frame));
    sws_setColorspaceDetails(sws.get(), coefficients, IsFullRange(frame) ? 1 : 0, coefficients,
                             /*dstRange=*/1, /*brightness=*/0, /*contrast=*/1 << 16,
                             /*saturation=*/1 << 16);
  }
  // swscale may write a little past the end of a row with SIMD, so it gets a
  // padded frame and the visible bytes are copied into the packed image.
  FramePtr rgb = MakeFrame();
  if (!rgb) return absl::ResourceExhaustedError("cannot allocate a frame");
  rgb->format = target;
  rgb->width = frame.width;
  rgb->height = frame.height;
  if (av_frame_get_buffer(rgb.get(), 0) < 0) {
    return absl::ResourceExhaustedError("cannot allocate an RGB frame");
  }
  sws_scale(sws.get(), frame.data, frame.linesize, 0, frame.height, rgb->data, rgb->linesize);
  RgbImage image(frame.width, frame.height);
  if (!alpha) {
    const size_t row_bytes = static_cast<size_t>(frame.width) * 3;
    for (int y = 0; y < frame.height; ++y) {
      std::memcpy(image.row(y), rgb->data[0] + static_cast<ptrdiff_t>(y) * rgb->linesize[0],
                  row_bytes);
    }
    return image;
  }
  image.alpha.resize(static_cast<size_t>(frame.width) * frame.height);
  for (int y = 0; y < frame.height; ++y) {
    const uint8_t* in = rgb->data[0] + static_cast<ptrdiff_t>(y) * rgb->linesize[0];
    uint8_t* out = image.row(y);
    uint8_t* a = image.alpha.data() + static_cast<size_t>(y) * frame.width;
    for (int x = 0; x < frame.width; ++x, in += 4, out += 3) {
      out[0] = in[0];
      out[1] = in[1];
      out[2] = in[2];
      a[x] = in[3];
    }
  }
  return image;
}

void CopyImageToFrame(const RgbImage& image, bool with_alpha, AVFrame* frame) {
  for (int y = 0; y < image.height; ++y) {
    uint8_t* out = frame->data[0] + static_cast<ptrdiff_t>(y) * frame->linesize[0];
    const uint8_t* in = image.row(y);
    if (!with_alpha) {
      std::memcpy(out, in, static_cast<size_t>(image.width) * 3);
      continue;
    }
    const uint8_t* a =
        image.has_alpha() ? image.alpha.data() + static_cast<size_t>(y) * image.width : nullptr;
    for (int x = 0; x < image.width; ++x, in += 3, out += 4) {
      out[0] = in[0];
      out[1] = in[1];
      out[2] = in[2];
      out[3] = a ? a[x] : 255;
    }
  }
}

std::string FramePixelsMd5(const AVFrame& frame) {
  const AVPixelFormat format = static_cast<AVPixelFormat>(frame.format);
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
  std::unique_ptr<AVMD5, AvFreeDeleter> md5(av_md5_alloc());
  if (!desc || !md5) return "";
  av_md5_init(md5.get());
  // Minimal (align 1) line sizes are exactly the visible bytes of a row.
  int row_bytes[4] = {};
  if (av_image_fill_linesizes(row_bytes, format, frame.width) < 0) return "";
  const int planes = av_pix_fmt_count_planes(format);
  for (int plane = 0; plane < planes && plane < 4; ++plane) {
    const bool chroma = plane == 1 || plane == 2;
    const int rows = chroma ? AV_CEIL_RSHIFT(frame.height, desc->log2_chroma_h) : frame.height;
    for (int y = 0; y < rows; ++y) {
      av_md5_update(md5.get(),
                    frame.data[plane] + static_cast<ptrdiff_t>(y) * frame.linesize[plane],
                    static_cast<size_t>(row_bytes[plane]));
    }
  }
  uint8_t digest[16];
  av_md5_final(md5.get(), digest);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t byte : digest) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 15]);
  }
  return hex;
}

}  // namespace anifarm
